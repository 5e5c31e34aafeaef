package httpmw

// SetTestHookLoaded installs f to run in Reloader.ServeHTTP between loading
// the current generation and entering it; nil removes it. Call it only
// while no request is being served.
func SetTestHookLoaded(f func()) { testHookLoaded = f }
