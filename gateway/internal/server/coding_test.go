package server_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"runtime"
	"testing"
)

// gzipBomb returns n MiB of zeros gzipped twice, as sent with
// "Content-Encoding: gzip, gzip": a few KB that inflate to n MiB (the inner
// layer is n concatenated gzip members of 1 MiB each, which gzip readers
// read as one stream).
func gzipBomb(t testing.TB, n int) []byte {
	t.Helper()
	return gzipped(t, bytes.Repeat(gzipped(t, make([]byte, 1<<20)), n))
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressedBodiesAreNotForwarded: a request that declares a
// Content-Encoding other than identity is a 415 problem at the gateway and
// reaches no upstream (tasks-service would have inflated it without a
// limit, and hashed other bytes than the gateway signed), with or without a
// token, on every /api route. The gateway itself inflates nothing: the bomb
// costs it no memory.
func TestCompressedBodiesAreNotForwarded(t *testing.T) {
	h := start(t, nil)
	h.waitReady(t)
	bearer := "Authorization: Bearer " + h.token("alice")
	bomb := string(gzipBomb(t, 512))
	harmless := string(gzipped(t, []byte(`{"title":"harmless"}`)))
	// Warm up the connection path and the token cache.
	h.do(t, reqWithBody("POST", "/api/tasks", `{"title":"warm"}`, bearer, "Content-Type: application/json"))
	h.tasks.reset()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp := h.do(t, reqWithBody("POST", "/api/tasks", bomb, bearer, "Content-Type: application/json", "Content-Encoding: gzip, gzip"))
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
		t.Errorf("a %d-byte gzip bomb made the gateway allocate %d MiB, want < 10 MiB", len(bomb), alloc>>20)
	}
	if resp.status != http.StatusUnsupportedMediaType || resp.problem(t)["type"] != "urn:gatehouse:problem:unsupported-media-type" {
		t.Fatalf("gzip bomb: %d %s, want 415 unsupported-media-type", resp.status, resp.body)
	}

	cases := []struct {
		desc    string
		method  string
		target  string
		headers []string
	}{
		{"gzipped JSON", "POST", "/api/tasks", []string{bearer, "Content-Encoding: gzip"}},
		{"upper case", "PUT", "/api/tasks/00000000-0000-4000-8000-000000000000", []string{bearer, "Content-Encoding: GZIP"}},
		{"deflate", "PATCH", "/api/tasks/00000000-0000-4000-8000-000000000000", []string{bearer, "Content-Encoding: deflate"}},
		{"br", "POST", "/api/tasks", []string{bearer, "Content-Encoding: br"}},
		{"identity then gzip", "POST", "/api/tasks", []string{bearer, "Content-Encoding: identity, gzip"}},
		{"gzip on a second field line", "POST", "/api/tasks", []string{bearer, "Content-Encoding: identity", "Content-Encoding: gzip"}},
		{"compatibility route", "POST", "/api/alice/tasks", []string{bearer, "Content-Encoding: gzip"}},
		{"without a token", "POST", "/api/tasks", []string{"Content-Encoding: gzip"}},
		{"to Better Auth", "POST", "/api/auth/sign-in/email", []string{"Content-Encoding: gzip"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h.tasks.reset()
			h.auth.reset()
			resp := h.do(t, reqWithBody(tc.method, tc.target, harmless, append(tc.headers, "Content-Type: application/json")...))
			if resp.status != http.StatusUnsupportedMediaType {
				t.Fatalf("%d %s, want 415", resp.status, resp.body)
			}
			if p := resp.problem(t); p["type"] != "urn:gatehouse:problem:unsupported-media-type" {
				t.Fatalf("problem %v", p)
			}
			if n := len(h.tasks.requests()) + len(h.auth.requests()); n != 0 {
				t.Fatalf("%d requests reached an upstream", n)
			}
		})
	}

	h.tasks.reset()
	resp = h.do(t, reqWithBody("POST", "/api/tasks", `{"title":"plain"}`, bearer, "Content-Type: application/json", "Content-Encoding: identity"))
	if got := h.tasks.requests(); resp.status != http.StatusOK || len(got) != 1 || got[0].VerifyErr != nil {
		t.Fatalf("Content-Encoding identity: %d %s, upstream saw %d: want it forwarded, signed", resp.status, resp.body, len(got))
	}
}
