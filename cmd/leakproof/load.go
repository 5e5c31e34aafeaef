package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// maxDump bounds what a URL may send: runtime/pprof cuts a debug=2 dump at
// 64 MiB, and a debug=1 one is far smaller.
const maxDump = 256 << 20

// A dump is one goroutine dump, read and parsed.
type dump struct {
	Source string `json:"source"` // the file name, "-" or the URL read
	Form   string `json:"form"`   // "debug=1 goroutine profile", "panic traceback"...
	// Reason is why the runtime printed a traceback, the line of its
	// preamble that says it: "panic: boom", "fatal error: concurrent map
	// writes", "SIGQUIT: quit"; empty if none does (the lines a program
	// logged before it are not the reason).
	Reason     string `json:"reason,omitempty"`
	Goroutines int    `json:"goroutines"`

	profile *gprofile.Profile
}

// load reads and parses the dump at src: a file, "-" for the standard
// input, or the URL of a net/http/pprof handler, read with the profile's
// debug level debug unless the URL says.
func load(ctx context.Context, src string, debug int) (*dump, error) {
	var (
		data []byte
		err  error
	)
	switch {
	case src == "-":
		data, err = io.ReadAll(os.Stdin)
		if err != nil {
			err = fmt.Errorf("reading the standard input: %w", err)
		}
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		data, src, err = fetch(ctx, src, debug)
	default:
		data, err = os.ReadFile(src)
	}
	if err != nil {
		return nil, err
	}
	return parse(src, data)
}

// parse parses data, the dump read from src.
func parse(src string, data []byte) (*dump, error) {
	p, format, err := gprofile.ParseDump(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", src, trimPkg(err))
	}
	d := &dump{Source: src, Goroutines: p.Total, profile: p}
	var kind string
	d.Reason, kind = reason(p.Preamble)
	switch {
	case format == gprofile.Debug1 && bytes.HasPrefix(data, []byte("goroutineleak")):
		d.Form = "debug=1 goroutineleak profile"
	case format == gprofile.Debug1:
		d.Form = "debug=1 goroutine profile"
	case p.Preamble == "":
		d.Form = "debug=2 goroutine profile"
	case kind != "":
		d.Form = kind + " traceback"
	default:
		d.Form = "traceback"
	}
	return d, nil
}

// reason returns the line of a traceback's preamble that says why the
// runtime printed it, and its kind: "panic: boom" and "panic", "fatal
// error: all goroutines are asleep - deadlock!" and "fatal error",
// "SIGQUIT: quit" and "SIGQUIT" (any signal the runtime names). The
// runtime prints it at the start of a line, after whatever the program
// wrote before (its log lines), so the last such line is the one: a
// nested panic's "panic: ... [recovered]" comes first, the later panics
// indented under it.
func reason(preamble string) (line, kind string) {
	for rest := preamble; rest != ""; {
		var l string
		l, rest, _ = strings.Cut(rest, "\n")
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.HasPrefix(l, "panic: "):
			line, kind = l, "panic"
		case strings.HasPrefix(l, "fatal error: "):
			line, kind = l, "fatal error"
		default:
			if sig, _, ok := strings.Cut(l, ": "); ok && len(sig) > 3 && strings.HasPrefix(sig, "SIG") &&
				strings.Trim(sig[3:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == "" {
				line, kind = l, sig
			}
		}
	}
	return line, kind
}

// fetch GETs a goroutine dump from a net/http/pprof handler. It completes
// rawURL as load documents and returns the body and the URL it read.
func fetch(ctx context.Context, rawURL string, debug int) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, rawURL, err
	}
	switch path := strings.TrimSuffix(u.Path, "/"); {
	case path == "":
		u.Path = "/debug/pprof/goroutine"
	case strings.HasSuffix(path, "/debug/pprof"):
		u.Path = path + "/goroutine"
	}
	q := u.Query()
	if !q.Has("debug") {
		q.Set("debug", strconv.Itoa(debug))
		u.RawQuery = q.Encode()
	}
	src := u.String()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, src, fmt.Errorf("GET %s: %w", src, err)
	}
	// A transport of its own, whose connections close when the command is
	// done with it: a tool about leaks leaves none behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the method and the URL
		}
		return nil, src, fmt.Errorf("GET %s: %w", src, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDump+1))
	if resp.StatusCode != http.StatusOK {
		msg, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return nil, src, fmt.Errorf("GET %s: %s: %s", src, resp.Status, msg)
	}
	switch {
	case err != nil:
		return nil, src, fmt.Errorf("GET %s: truncated: %w", src, err)
	case len(body) > maxDump:
		return nil, src, fmt.Errorf("GET %s: the dump is larger than %d MiB", src, maxDump>>20)
	}
	return body, src, nil
}
