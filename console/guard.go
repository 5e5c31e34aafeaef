package console

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Guard returns next behind the protections the console itself stands
// behind, for a program's other operator endpoints: a POST /reload, an
// admin /quit. It answers 403 Forbidden, with a page saying why, to
//
//   - a request whose Host is not a loopback name ("localhost", or a name
//     ending in ".localhost") or a loopback address (127.0.0.0/8, ::1),
//     nor one of allowedHosts. This defeats DNS rebinding: a page of
//     another site whose name an attacker points at 127.0.0.1 reaches the
//     endpoint, but with its own name in Host. Give allowedHosts the names
//     (or addresses) operators use to reach the process ("ops.example.com",
//     "10.0.0.7"); a name starting with "*." allows every name under it.
//     Ports are ignored.
//   - a cross-origin unsafe request from a browser (a POST from another
//     site's form), as http.CrossOriginProtection decides.
//
// Every answer, next's included, forbids framing (Content-Security-Policy
// frame-ancestors 'none' and X-Frame-Options DENY), so that another site
// cannot overlay the endpoint with a decoy and have an operator click it.
//
// A host that is empty or holds a port, a path or a space is a mistake in
// the code: Guard panics. So does a nil next.
func Guard(next http.Handler, allowedHosts ...string) http.Handler {
	if next == nil {
		panic("console: Guard(nil)")
	}
	return newGuard(next, checkHosts("Guard", allowedHosts))
}

// A guard is what Guard returns, and what Handler puts in front of the
// console.
type guard struct {
	next  http.Handler
	hosts hostPolicy
	cross *http.CrossOriginProtection
}

func newGuard(next http.Handler, hosts hostPolicy) *guard {
	return &guard{next: next, hosts: hosts, cross: http.NewCrossOriginProtection()}
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !g.hosts.allows(r.Host) {
		forbid(w, r, fmt.Sprintf("This endpoint answers only requests addressed to this machine's loopback "+
			"(localhost, 127.0.0.1, [::1]) or to a name the program allows; this one was addressed to %q.", r.Host),
			"If you reached it through a name of your own, the program must allow that name: "+
				"console.WithAllowedHosts for the console, the allowed hosts of console.Guard for other endpoints.")
		return
	}
	if err := g.cross.Check(r); err != nil {
		forbid(w, r, "Another site's page asked this endpoint to act (a cross-origin "+r.Method+"): it was refused, and nothing was done.",
			"To act, use the form on the endpoint's own page, or a tool such as curl, which sends no browser headers.")
		return
	}
	g.next.ServeHTTP(w, r)
}

// A hostPolicy is the names and addresses a guard allows besides the
// loopback's, in lower case without a trailing dot: exact names, suffixes
// (".example.com", from "*.example.com"), and addresses.
type hostPolicy struct {
	names    []string
	suffixes []string
	addrs    []netip.Addr
}

// checkHosts turns allowed hosts into a policy, panicking, as fn, on one
// that can only be a mistake.
func checkHosts(fn string, hosts []string) hostPolicy {
	var p hostPolicy
	for _, h := range hosts {
		name := strings.TrimSuffix(strings.ToLower(h), ".")
		if a, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
			p.addrs = append(p.addrs, a.Unmap())
			continue
		}
		if name == "" || name == "*" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, ":/ \t[]@") || strings.Contains(name[1:], "*") {
			panic(fmt.Sprintf("console: %s: %q is not a host name, a *.name or an address", fn, h))
		}
		if suffix, ok := strings.CutPrefix(name, "*"); ok {
			p.suffixes = append(p.suffixes, suffix)
			continue
		}
		p.names = append(p.names, name)
	}
	return p
}

// allows reports whether a request whose Host header is hostport may be
// answered.
func (p hostPolicy) allows(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsLoopback() {
			return true
		}
		for _, b := range p.addrs {
			if a == b {
				return true
			}
		}
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, n := range p.names {
		if host == n {
			return true
		}
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// forbid answers 403 Forbidden: a page to a browser, a line of text to
// anything else.
func forbid(w http.ResponseWriter, r *http.Request, why, next string) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Error(w, "console: forbidden: "+why+" "+next, http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Security-Policy", pagePolicy)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	forbiddenTemplate.Execute(w, struct{ Why, Next string }{why, next}) //nolint:errcheck // the client went away
}

var forbiddenTemplate = template.Must(template.New("forbidden").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Forbidden (403)</title>
<style>` + stylesheet + `</style></head><body>
<main>
<h1>Forbidden (403)</h1>
<p>{{.Why}}</p>
<p>{{.Next}}</p>
</main>
</body></html>
`))
