package authn

import (
	"strings"
	"testing"
	"time"
)

func TestCacheBoundsTokenBytes(t *testing.T) {
	c := newTokenCache(1000, 1000)
	exp := time.Now().Add(time.Hour)
	for i := range 50 {
		tok := strings.Repeat(string(rune('a'+i%26)), 90) + strings.Repeat("x", i)
		c.put(tok, Principal{Subject: "u", Expiry: exp}, 0)
		if n, b := c.size(); b > 1000 || n == 0 {
			t.Fatalf("after %d puts: %d tokens, %d bytes; bound is 1000 bytes", i+1, n, b)
		}
	}
	// The byte count must match what is held, or the bound drifts.
	held := 0
	for k := range c.m {
		held += len(k)
	}
	if _, b := c.size(); b != held {
		t.Fatalf("cache counts %d bytes, holds %d", b, held)
	}
}

func TestCacheDoesNotRetainCallerBytes(t *testing.T) {
	c := newTokenCache(10, 1<<20)
	buf := []byte("aaa.bbb.ccc")
	c.put(string(buf), Principal{Subject: "alice", Expiry: time.Now().Add(time.Hour)}, 0)
	copy(buf, "zzz")
	if _, ok := c.get(buf, time.Now()); ok {
		t.Fatal("a different token hit the cache")
	}
	if p, ok := c.get([]byte("aaa.bbb.ccc"), time.Now()); !ok || p.Subject != "alice" {
		t.Fatalf("cached token lost after the caller reused its buffer: %v %v", p, ok)
	}
	if _, ok := c.get([]byte("aaa.bbb.ccc"), time.Now().Add(2*time.Hour)); ok {
		t.Fatal("expired entry served")
	}
	if n, b := c.size(); n != 0 || b != 0 {
		t.Fatalf("expired entry kept: %d tokens, %d bytes", n, b)
	}
}

// TestCheckShape checks the byte classes and the dot structure a token must
// have, for every byte value, before Verify spends work on it.
func TestCheckShape(t *testing.T) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		want := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if err := checkShape([]byte("a" + string([]byte{c}) + "a.b.c")); (err == nil) != want {
			t.Errorf("byte %#x: %v; want accepted=%v", c, err, want)
		}
	}
	for _, tok := range []string{"a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "abc", "a.b.c.", "",
		`{"code":"UNAUTHORIZED","message":"Unauthorized"}`, "a.b.c, {x}", "a.b.c Bearer", "Bearer a.b.c"} {
		if err := checkShape([]byte(tok)); err != errMalformed {
			t.Errorf("%q: %v, want malformed", tok, err)
		}
	}
	for _, tok := range []string{"a.b.c, Bearer d.e.f", "a.b.c d.e.f", "a.b.c,d.e.f"} {
		if err := checkShape([]byte(tok)); err != errTwoTokens {
			t.Errorf("%q: %v, want multiple_tokens", tok, err)
		}
	}
}
