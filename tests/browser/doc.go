// Package browser tests leakproof's debug page in a real browser: Debian's
// chromium, driven by chromedp. It is a module of its own so that the core
// module does not depend on chromedp.
package browser
