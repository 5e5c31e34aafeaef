package hooks

import "context"

// WithNotified returns a context that makes the execute function of
// Registry.SignalActor call f once it has subscribed to its signals.
func WithNotified(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, notifiedKey{}, f)
}
