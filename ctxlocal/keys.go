package ctxlocal

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
)

// ErrBadKey is returned by a [Cache]'s Set and Load for a key a map could
// never find again: one not equal to itself, such as a float NaN, or an
// interface holding a value of an unhashable type.
var ErrBadKey = errors.New("ctxlocal: key cannot be stored")

// keyCheck decides, once per cache, whether its key type K can hold such
// keys at all (a float, a complex, an interface, or an array or struct
// holding one), so that caches keyed by strings or ints pay one atomic
// load and nothing else.
type keyCheck[K comparable] struct {
	state atomic.Int32 // 0: not decided yet; 1: keys need no check; 2: they do
}

// bad returns why k cannot be stored, or nil.
func (kc *keyCheck[K]) bad(k K) error {
	s := kc.state.Load()
	if s == 0 {
		s = 1
		if mayBeBad(reflect.TypeFor[K]()) {
			s = 2
		}
		kc.state.Store(s)
	}
	if s == 1 {
		return nil
	}
	return badKey(k)
}

// badKey compares k with itself, which is false for NaNs and panics for
// unhashable values in interfaces.
func badKey[K comparable](k K) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("key of type %T cannot be compared: %v", k, p)
		}
	}()
	if k != k {
		return fmt.Errorf("key %v is not equal to itself", k)
	}
	return nil
}

// mayBeBad reports whether values of type t can be keys a map cannot find
// again.
func mayBeBad(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.Interface:
		return true
	case reflect.Array:
		return mayBeBad(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if mayBeBad(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
