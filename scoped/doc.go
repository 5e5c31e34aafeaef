// Package scoped holds the preventors: the process-wide things a
// generation typically changes and forgets (a signal subscription, a
// temporary file, a swapped global, the default logger, idle keep-alive
// connections), each made the scoped way, so that the scope (a
// janitor.Janitor) undoes it when it closes. Use them instead of their
// os, os/signal, log and net/http counterparts in code that a reload
// replaces: those outlive the generation that called them.
//
//	scoped.Notify(gen, "reload", c, syscall.SIGHUP)  // signal.Stop(c) when gen closes
//	f, err := scoped.CreateTemp(gen, "", "spool-*")  // removed when gen closes
//	scoped.SetDefaultLogger(gen, logger)             // the previous default restored
//
// Each is listed in the closing scope's Report as a Resource of its kind
// ("signal", "tempfile", "tempdir", "global", "logger", "idleconns") and
// counted in Stats.Undone; under janitor.WithDetectOnly each is reported
// and left in place. They are written on janitor.Janitor.Defer, the
// janitor's one clean-up seam, as a preventor of your own would be: a
// call that changes something, then an Undo that puts it back.
//
// Each function returns an error wrapping janitor.ErrClosed, having
// undone (or never made) its change, once the scope has started to close,
// and an error prefixed "scoped:" for bad input. All of them are safe for
// concurrent use.
package scoped
