package console

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// Problems first: what needs an operator's action is put at the top of
// the page, and at the top of its JSON, before the facts that explain it.

// stuckAfter is how long a close runs before the page calls it stuck: a
// close takes milliseconds unless a hook, a goroutine or a resource
// holds it.
const stuckAfter = time.Second

// An attentionView is one thing that needs an operator's action.
type attentionView struct {
	Kind string   `json:"kind"` // see the package documentation, "# JSON"
	Text string   `json:"text"`
	IDs  []string `json:"ids"`
}

// The kinds of attention, in the order the page lists them.
const (
	notReady     = "not_ready"
	stuckClose   = "stuck"
	liveLeaks    = "leaking"
	failedReload = "failed_reload"
	reachable    = "reachable"
)

// attentionOf lists what needs action on p, most urgent first.
func attentionOf(p pageView) []attentionView {
	out := []attentionView{}
	if p.Ready != nil && !*p.Ready {
		out = append(out, attentionView{notReady,
			"Not ready: the readiness endpoint answers 503, so load balancers take the process out of rotation. " +
				"It is shutting down: it serves the requests it still gets (the lame duck), then stops.", []string{}})
	}
	for _, s := range p.Scopes {
		if s.State == "open" || s.CloseSeconds < stuckAfter.Seconds() {
			continue
		}
		what := "in phase " + s.Phase
		if s.Hook != "" {
			what = fmt.Sprintf("in hook %q, running for %s", s.Hook, fmtSeconds(s.HookSeconds))
		}
		out = append(out, attentionView{stuckClose,
			fmt.Sprintf("%s has been closing for %s, %s.", s.ID, fmtSeconds(s.CloseSeconds), what), []string{s.ID}})
	}
	var leaky []string
	alive, owners := 0, map[string]bool{}
	var ownerLines []string
	for _, c := range p.Closed {
		if c.LeaksAlive == 0 {
			continue
		}
		leaky = append(leaky, c.ID)
		alive += c.LeaksAlive
		for _, o := range c.Owners {
			if !owners[o] {
				owners[o] = true
				ownerLines = append(ownerLines, o)
			}
		}
	}
	if len(leaky) > 0 {
		slices.SortFunc(leaky, func(a, b string) int { return byGeneration(b, a) }) // newest first
		text := fmt.Sprintf("%s still running, left by %s.", plural(alive, "leaked goroutine"), plural(len(leaky), "closed scope"))
		if len(ownerLines) > 0 {
			text += " Owners: " + strings.Join(ownerLines, "; ") + "."
		}
		text += " Each close's report shows their stacks and, for a known offender, the remedy."
		out = append(out, attentionView{liveLeaks, text, leaky})
	}
	if extra := p.LeaksAlive - int64(alive); extra > 0 {
		// Closes History no longer remembers (past its bound): the gauge
		// still counts them.
		out = append(out, attentionView{liveLeaks,
			fmt.Sprintf("%s of closes no longer remembered still running.", plural(int(extra), "leaked goroutine")), []string{}})
	}
	for _, rl := range p.Reloaders {
		if failed := currentFailures(rl); len(failed) > 0 {
			last := failed[0]
			what := "The last reload of " + rl.Path + " failed"
			if len(failed) > 1 {
				what = fmt.Sprintf("The last %d reloads of %s failed; the last", len(failed), rl.Path)
			}
			text := fmt.Sprintf("%s (%s, %s): %s. %s serving.",
				what, last.Trigger, last.At.Format(timeLayout), last.Error, servingText(rl.Serving))
			out = append(out, attentionView{failedReload, text, []string{rl.Path}})
		}
	}
	if len(p.Reachable) > 0 {
		out = append(out, attentionView{reachable,
			fmt.Sprintf("%s still reachable after two garbage collections: something keeps %s alive.",
				plural(len(p.Reachable), "closed scope"), them(len(p.Reachable))), slices.Clone(p.Reachable)})
	}
	return out
}

// them is the pronoun for n things.
func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func servingText(id string) string {
	if id == "" {
		return "Nothing is"
	}
	return "The previous generation, " + id + ", keeps"
}

// currentFailures are rl's failed reloads since its serving generation was
// built, newest first: the ones no successful reload has made moot.
func currentFailures(rl reloaderView) []failedView {
	var since time.Time
	for _, g := range rl.Generations {
		if g.ID == rl.Serving {
			since = g.Built
		}
	}
	var out []failedView
	for _, f := range rl.FailedReloads {
		if f.At.After(since) {
			out = append(out, f)
		}
	}
	return out
}

// stateOf is the page's state in a few words, for its title: "ok", or
// what needs attention, "not ready, 1 stuck close, 3 leaking".
func stateOf(attention []attentionView) string {
	if len(attention) == 0 {
		return "ok"
	}
	counts := map[string]int{}
	var kinds []string
	for _, a := range attention {
		if counts[a.Kind] == 0 {
			kinds = append(kinds, a.Kind)
		}
		counts[a.Kind] += max(len(a.IDs), 1)
	}
	words := make([]string, 0, len(kinds))
	for _, k := range kinds {
		n := counts[k]
		switch k {
		case notReady:
			words = append(words, "not ready")
		case stuckClose:
			words = append(words, plural(n, "stuck close"))
		case liveLeaks:
			words = append(words, fmt.Sprintf("%d leaking", n))
		case failedReload:
			words = append(words, "reload failing")
		case reachable:
			words = append(words, fmt.Sprintf("%d still reachable", n))
		}
	}
	return strings.Join(words, ", ")
}

// A summaryPart is a piece of the page's one-line summary: the
// punctuation before it, its words, and the place on the page that lists
// what it counts.
type summaryPart struct {
	Sep, Text, Href string
}

// summaryOf is the page's one line, in parts: "64 closes: 2 leaked, 1
// still reachable".
func summaryOf(p pageView) []summaryPart {
	leaked, failed, slow, alive := 0, 0, 0, 0
	for _, c := range p.Closed {
		switch c.Result {
		case janitor.ResultLeaked.String():
			leaked++
		case janitor.ResultError.String():
			failed++
		}
		if c.Slow {
			slow++
		}
		alive += c.LeaksAlive
	}
	parts := []summaryPart{
		{"", plural(len(p.Closed), "close"), "#closes"},
		{": ", fmt.Sprintf("%d leaked", leaked), "?closes=leaky#closes"},
	}
	if alive > 0 {
		parts = append(parts, summaryPart{" ", "(" + plural(alive, "goroutine") + " still running)", "#attention"})
	}
	if failed > 0 {
		parts = append(parts, summaryPart{", ", plural(failed, "error"), "?closes=error#closes"})
	}
	if slow > 0 {
		parts = append(parts, summaryPart{", ", fmt.Sprintf("%d slow", slow), "?closes=slow#closes"})
	}
	if p.FindLeaks != nil {
		parts = append(parts, summaryPart{", ", fmt.Sprintf("%d still reachable", len(p.Reachable)), "#find-result"})
	} else {
		parts = append(parts, summaryPart{", ", "reachability not checked", "#find"})
	}
	closing := 0
	for _, s := range p.Scopes {
		if s.State != "open" {
			closing++
		}
	}
	if closing > 0 {
		parts = append(parts, summaryPart{"; ", fmt.Sprintf("%d closing now", closing), "#closing"})
	}
	return parts
}

// summaryText joins the summary's parts into its line.
func summaryText(parts []summaryPart) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Sep + p.Text)
	}
	return b.String()
}

// plural writes n and the noun, with an s when n is not 1: "1 close", "2
// closes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
