package handoff

// HandedBack returns how many connections l handed to the active view
// after a retired view's server closed them unread.
func HandedBack(l *Listener) uint64 { return l.handedBack.Load() }
