package console_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/console"
)

// request makes a request of method to target addressed to host.
func request(method, target, host string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.Host = host
	return req
}

// TestHostRefused (DNS rebinding): the page, its JSON and find-leaks
// answer only requests addressed to a loopback name or address, or to a
// host the program allows; the others get 403 and change nothing.
func TestHostRefused(t *testing.T) {
	root := newRoot(t)
	h := console.Handler(root, console.WithAllowedHosts("ops.example.com", "*.pods.example", "10.0.0.7", "[fd00::7]"))
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost:8080", true},
		{"LOCALHOST.", true},
		{"app.localhost:80", true},
		{"127.0.0.1:8080", true},
		{"127.3.2.1", true},
		{"[::1]:8080", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"ops.example.com:443", true},
		{"a.pods.example", true},
		{"10.0.0.7:8080", true},
		{"[fd00::7]:80", true},
		{"rebound.attacker.example:8080", false},
		{"localhost.attacker.example", false},
		{"pods.example", false},
		{"10.0.0.8:8080", false},
		{"0.0.0.0:8080", false},
		{"", false},
	} {
		for _, target := range []string{"/", "/?format=json"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request(http.MethodGet, target, tc.host))
			if (rec.Code == http.StatusOK) != tc.ok || (!tc.ok && rec.Code != http.StatusForbidden) {
				t.Errorf("GET %s with Host %q = %d; want 200: %v, else 403", target, tc.host, rec.Code, tc.ok)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request(http.MethodPost, "/", tc.host))
		if (rec.Code == http.StatusSeeOther) != tc.ok {
			t.Errorf("POST with Host %q = %d; want 303: %v, else 403", tc.host, rec.Code, tc.ok)
		}
	}
	// Only the allowed POSTs ran find-leaks: results 1 to 11.
	if page := fetchJSON(t, h, "/?format=json"); page.FindLeaks == nil || page.FindLeaks.ID != 11 {
		t.Errorf("find-leaks results after the POSTs: %+v; want 11, one per allowed host", page.FindLeaks)
	}
}

// TestForbiddenPage: a browser refused gets a page that says why and
// what to do, under the same policy as the console's; a tool, a line of
// text.
func TestForbiddenPage(t *testing.T) {
	h := console.Handler(newRoot(t))
	req := request(http.MethodGet, "/", "rebound.attacker.example")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(body, "<title>Forbidden (403)</title>") || !strings.Contains(body, "&#34;rebound.attacker.example&#34;") ||
		!strings.Contains(body, "console.WithAllowedHosts") {
		t.Errorf("refused browser request: %d %s\n%s\nwant 403, a page naming the host and WithAllowedHosts", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	checkPolicy(t, rec)

	req = request(http.MethodPost, "/", "localhost")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Accept", "text/html")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Another site") {
		t.Errorf("cross-site POST: %d\n%s\nwant 403, a page saying another site asked", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, request(http.MethodGet, "/?format=json", "rebound.attacker.example"))
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusForbidden || ct != "text/plain; charset=utf-8" ||
		!strings.HasPrefix(rec.Body.String(), "console: forbidden: ") {
		t.Errorf("refused tool request: %d %s %q; want 403 and a console: line", rec.Code, ct, rec.Body)
	}
}

// TestFramingForbidden (clickjacking): every answer, the page's, its
// JSON's, a redirect's and a refusal's, forbids framing; the page's policy
// allows its own stylesheet, by hash, and nothing else.
func TestFramingForbidden(t *testing.T) {
	h := console.Handler(newRoot(t))
	for _, req := range []*http.Request{
		request(http.MethodGet, "/", "localhost"),
		request(http.MethodGet, "/?format=json", "localhost"),
		request(http.MethodPost, "/", "localhost"),
		request(http.MethodGet, "/", "attacker.example"),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s (Host %s) = %d with CSP %q, X-Frame-Options %q; want framing forbidden",
				req.Method, req.URL, req.Host, rec.Code, csp, rec.Header().Get("X-Frame-Options"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request(http.MethodGet, "/", "localhost"))
	checkPolicy(t, rec)
	if strings.Contains(rec.Body.String(), " style=") {
		t.Error("the page has a style attribute, which its policy forbids")
	}
}

// checkPolicy checks that the page in rec is served under the console's
// policy, and that its stylesheet is the one the policy allows.
func checkPolicy(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q has no %s", csp, want)
		}
	}
	styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(rec.Body.String(), -1)
	if len(styles) != 1 {
		t.Fatalf("%d stylesheets; want 1", len(styles))
	}
	sum := sha256.Sum256([]byte(styles[0][1]))
	if hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, "style-src "+hash) {
		t.Errorf("CSP %q does not allow the page's stylesheet, %s", csp, hash)
	}
}

// TestGuard: another operator endpoint behind Guard is refused as the
// console is (a rebound host, a cross-site POST) and forbids framing; an
// allowed request reaches it.
func TestGuard(t *testing.T) {
	reloads := 0
	h := console.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reloads++ }), "ops.example.com")
	for _, tc := range []struct {
		host, site string
		ok         bool
	}{
		{"127.0.0.1:8080", "", true},
		{"ops.example.com", "same-origin", true},
		{"rebound.attacker.example:8080", "", false},
		{"localhost:8080", "cross-site", false},
	} {
		req := request(http.MethodPost, "/reload", tc.host)
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		rec := httptest.NewRecorder()
		before := reloads
		h.ServeHTTP(rec, req)
		if ran := reloads > before; ran != tc.ok || (!tc.ok && rec.Code != http.StatusForbidden) {
			t.Errorf("POST /reload, Host %s, Sec-Fetch-Site %q: %d, ran %v; want ran %v, else 403", tc.host, tc.site, rec.Code, ran, tc.ok)
		}
		if rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("POST /reload, Host %s: framing not forbidden", tc.host)
		}
	}
}

// Hosts that can only be mistakes panic where they are given, naming the
// function.
func TestAllowedHostsBadInput(t *testing.T) {
	for _, host := range []string{"", "ops.example.com:8080", "http://ops.example.com", "a b", "*.", "a.*.example"} {
		for name, fn := range map[string]func(){
			"WithAllowedHosts": func() { console.WithAllowedHosts(host) },
			"Guard":            func() { console.Guard(http.NotFoundHandler(), host) },
		} {
			func() {
				defer func() {
					if p := fmt.Sprint(recover()); !strings.HasPrefix(p, "console: "+name+": ") {
						t.Errorf("%s(%q) panicked with %q; want a console: %s: message", name, host, p, name)
					}
				}()
				fn()
			}()
		}
	}
}
