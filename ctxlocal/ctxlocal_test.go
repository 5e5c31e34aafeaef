package ctxlocal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/ctxlocal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Both implement Sealer, which the janitor registers.
var (
	_ ctxlocal.Sealer = (*ctxlocal.Store)(nil)
	_ ctxlocal.Sealer = (*ctxlocal.Cache[string, int])(nil)
)

func TestKeyZero(t *testing.T) {
	var k ctxlocal.Key[int]
	if v, ok := k.Value(context.Background()); ok || v != 0 {
		t.Fatalf("zero Key.Value(Background) = %v, %v; want 0, false", v, ok)
	}
	ctx := k.WithValue(context.Background(), 7)
	if v, ok := k.Value(ctx); !ok || v != 7 {
		t.Fatalf("zero Key.Value(ctx) = %v, %v; want 7, true", v, ok)
	}
	if got, want := k.String(), "ctxlocal.Key[int]()"; got != want {
		t.Fatalf("zero Key.String() = %q; want %q", got, want)
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	// Same type, same name: still two keys.
	a := ctxlocal.NewKey[string]("id")
	b := ctxlocal.NewKey[string]("id")
	ctx := a.WithValue(context.Background(), "a")
	if v, ok := b.Value(ctx); ok {
		t.Fatalf("b.Value(ctx with a) = %q, true; want \"\", false", v)
	}
	ctx = b.WithValue(ctx, "b")
	for _, tc := range []struct {
		key  *ctxlocal.Key[string]
		want string
	}{{a, "a"}, {b, "b"}} {
		if v, ok := tc.key.Value(ctx); !ok || v != tc.want {
			t.Errorf("%v.Value(ctx) = %q, %v; want %q, true", tc.key, v, ok, tc.want)
		}
	}
	// A plain context key with the same name is another key too.
	//lint:ignore SA1029 a plain string key is what the test compares against
	ctx = context.WithValue(context.Background(), "id", "string key")
	if v, ok := a.Value(ctx); ok {
		t.Fatalf("a.Value(ctx with string key) = %q, true; want \"\", false", v)
	}
}

func TestKeyShadowing(t *testing.T) {
	k := ctxlocal.NewKey[int]("n")
	outer := k.WithValue(context.Background(), 1)
	inner := k.WithValue(outer, 2)
	if v, _ := k.Value(inner); v != 2 {
		t.Errorf("k.Value(inner) = %d; want 2", v)
	}
	if v, _ := k.Value(outer); v != 1 {
		t.Errorf("k.Value(outer) = %d; want 1", v)
	}
}

func TestKeyNilInterfaceValue(t *testing.T) {
	k := ctxlocal.NewKey[error]("err")
	ctx := k.WithValue(context.Background(), nil)
	if v, ok := k.Value(ctx); !ok || v != nil {
		t.Fatalf("k.Value(ctx with nil) = %v, %v; want <nil>, true", v, ok)
	}
}

func TestKeyBadInput(t *testing.T) {
	k := ctxlocal.NewKey[int]("n")
	//lint:ignore SA1012 nil context is the bad input under test
	if v, ok := k.Value(nil); ok {
		t.Errorf("k.Value(nil) = %d, true; want 0, false", v)
	}
	//lint:ignore SA1012 nil context is the bad input under test
	ctx := k.WithValue(nil, 3)
	if v, ok := k.Value(ctx); !ok || v != 3 {
		t.Errorf("k.Value(k.WithValue(nil, 3)) = %d, %v; want 3, true", v, ok)
	}
	var nilKey *ctxlocal.Key[int]
	if got := nilKey.WithValue(ctx, 5); got != ctx {
		t.Errorf("nil key WithValue changed the context")
	}
	if v, ok := nilKey.Value(ctx); ok {
		t.Errorf("nilKey.Value(ctx) = %d, true; want 0, false", v)
	}
	if got, want := nilKey.String(), "ctxlocal.Key[int]()"; got != want {
		t.Errorf("nilKey.String() = %q; want %q", got, want)
	}
}

func TestKeyString(t *testing.T) {
	for _, tc := range []struct {
		got  fmt.Stringer
		want string
	}{
		{ctxlocal.NewKey[string]("request-id"), "ctxlocal.Key[string](request-id)"},
		{ctxlocal.NewKey[*ctxlocal.Store]("s"), "ctxlocal.Key[*ctxlocal.Store](s)"},
		{ctxlocal.NewKey[any](""), "ctxlocal.Key[interface {}]()"},
	} {
		if got := tc.got.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
	}
	// context's own String shows the key's String.
	k := ctxlocal.NewKey[int]("n")
	if got := fmt.Sprint(k.WithValue(context.Background(), 1)); !strings.Contains(got, "WithValue(ctxlocal.Key[int](n),") {
		t.Errorf("ctx.String() = %q; want it to name the key as ctxlocal.Key[int](n)", got)
	}
}
