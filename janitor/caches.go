package janitor

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/leakproof/leakproof/ctxlocal"
)

// SealOnClose makes the scope seal s when it closes, in the caches phase,
// after the resources and before the loggers: s drops its entries and
// refuses every later write, so nothing the generation cached outlives it,
// even if s itself stays reachable (a package-level cache, say). The
// Report lists it as "ctxlocal" with the number of entries dropped, which
// is added to Report.Cleared and to Stats.CtxlocalCleared.
//
// *ctxlocal.Store and *ctxlocal.Cache are Sealers. If the scope has
// started to close, SealOnClose seals s at once and returns ErrClosed. A
// nil s, or a nil pointer in a Sealer, is an error.
func (j *Janitor) SealOnClose(s ctxlocal.Sealer) error {
	if s == nil {
		return fmt.Errorf("janitor: %s: SealOnClose(nil)", j.id)
	}
	if v := reflect.ValueOf(s); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("janitor: %s: SealOnClose of a nil %T", j.id, s)
	}
	_, err := j.addCleanup(cleanup{phase: phaseCaches, kind: kindCtxlocal, name: s.Name(), preventor: true,
		undo:  func() undone { n := s.Seal(); return undone{count: n, cleared: n, exact: true} },
		leave: func() undone { return undone{count: lenOf(s), exact: true} }})
	if err != nil {
		return errors.Join(err, safely(func() undone { s.Seal(); return undone{} }).err)
	}
	return nil
}

// clearCaches is the caches phase: the registered sealers, last first,
// then the scope's own store. The store is listed in the Report only if it
// held something.
func (c *closer) clearCaches() {
	c.undoPhase(phaseCaches)
	if lenOf(c.j.store) == 0 {
		if !c.j.cfg.detectOnly {
			c.j.store.Seal() // refuse later writes; nothing to report
		}
		return
	}
	c.undoOne(phaseCaches, cleanup{phase: phaseCaches, kind: kindCtxlocal, name: c.j.store.Name(), preventor: true,
		undo:  func() undone { n := c.j.store.Seal(); return undone{count: n, cleared: n, exact: true} },
		leave: func() undone { return undone{count: lenOf(c.j.store), exact: true} }})
}

// lenOf returns how many entries s holds, if it says.
func lenOf(s ctxlocal.Sealer) int {
	if l, ok := s.(interface{ Len() int }); ok {
		return l.Len()
	}
	return 0
}
