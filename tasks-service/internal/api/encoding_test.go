package api_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
)

// gzipBomb returns n MiB of zeros gzipped twice, as sent with
// "Content-Encoding: gzip, gzip": a few KB that inflate to n MiB. The inner
// layer is n copies of one gzip member of 1 MiB (gzip readers, fasthttp's
// included, read concatenated members as one stream), so building it costs
// one MiB of compression, not n.
func gzipBomb(t testing.TB, n int) []byte {
	t.Helper()
	member := gzipped(t, make([]byte, 1<<20))
	return gzipped(t, bytes.Repeat(member, n))
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

// allocatedDuring returns the bytes the process allocated while f ran (the
// service runs in this process).
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCompressedBodiesAreRefused: the service never inflates a request
// body. A body with any Content-Encoding but identity is a 415 before the
// identity check hashes anything: a 512 MiB gzip bomb signed as the gateway
// signs it (over the bytes as received) allocates next to nothing, and a
// harmless gzipped JSON body is a 415 too, not a bad_signature 401 (Fiber's
// Ctx.Body hashed the inflated bytes).
func TestCompressedBodiesAreRefused(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)

	bomb := gzipBomb(t, 512)
	// Warm up: the first request builds the harness's OpenAPI validator
	// and the client's connection, which would count as the service's.
	u.do("POST", "/api/tasks", gzipped(t, []byte(`{"title":"warm-up"}`)), "Content-Encoding", "gzip")
	var r response
	alloc := allocatedDuring(func() {
		r = u.do("POST", "/api/tasks", bomb, "Content-Encoding", "gzip, gzip")
	})
	if alloc > 10<<20 {
		t.Errorf("a %d-byte gzip bomb made the service allocate %d MiB, want < 10 MiB", len(bomb), alloc>>20)
	}
	if r.status != http.StatusUnsupportedMediaType || r.problem(t).Type != "urn:gatehouse:problem:unsupported-media-type" {
		t.Fatalf("a %d-byte gzip bomb: %d %s, want 415 unsupported-media-type", len(bomb), r.status, r.body)
	}

	task := gzipped(t, []byte(`{"title":"harmless"}`))
	for _, tc := range []struct {
		desc, method, target string
		body                 []byte
		codings              []string // Content-Encoding field lines
	}{
		{"gzipped JSON", "POST", "/api/tasks", task, []string{"gzip"}},
		{"coding in upper case", "POST", "/api/tasks", task, []string{"GZIP"}},
		{"identity, then gzip", "POST", "/api/tasks", task, []string{"identity, gzip"}},
		{"gzip on a second field line", "POST", "/api/tasks", task, []string{"identity", "gzip"}},
		{"deflate", "PUT", "/api/tasks/00000000-0000-4000-8000-000000000000", task, []string{"deflate"}},
		{"br", "PATCH", "/api/tasks/00000000-0000-4000-8000-000000000000", task, []string{"br"}},
		{"zstd", "POST", "/api/tasks", task, []string{"zstd"}},
		{"an unknown coding", "POST", "/api/tasks", []byte(`{"title":"t"}`), []string{"x-rot13"}},
		{"a coding without a body", "GET", "/api/tasks", nil, []string{"gzip"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := u.in(t).doWith(tc.method, tc.target, tc.body, func(h http.Header) {
				for _, c := range tc.codings[1:] {
					h.Add("Content-Encoding", c)
				}
			}, "Content-Encoding", tc.codings[0])
			if r.status != http.StatusUnsupportedMediaType {
				t.Fatalf("%d %s, want 415", r.status, r.body)
			}
			if p := r.problem(t); p.Type != "urn:gatehouse:problem:unsupported-media-type" {
				t.Fatalf("problem type %q", p.Type)
			}
		})
	}

	// identity is no coding at all.
	if r := u.do("POST", "/api/tasks", map[string]any{"title": "plain"}, "Content-Encoding", "identity"); r.status != http.StatusCreated {
		t.Fatalf("Content-Encoding identity: %d %s, want 201", r.status, r.body)
	}
}

// TestMultipartBodyIsNotReencoded: fasthttp pre-parses a multipart/form-data
// body (into temporary files past 16 MiB) before any handler runs, and then
// Body() returns a re-encoded copy, so the hash the identity check computed
// was not over the bytes the gateway signed. The body must reach the
// identity check as received: a signed multipart request is a 415 (the API
// takes JSON), not a bad_signature 401.
func TestMultipartBodyIsNotReencoded(t *testing.T) {
	srv := newServer(t)
	u := srv.newUser(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	// A file before a field: fasthttp re-encodes fields first.
	fw, err := mw.CreateFormFile("attachment", "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(fw, "hello")
	if err := mw.WriteField("title", "form"); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	r := u.do("POST", "/api/tasks", body.Bytes(), "Content-Type", mw.FormDataContentType())
	if r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("signed multipart body: %d %s, want 415", r.status, r.body)
	}
	if logs := srv.logs.String(); strings.Contains(logs, "identity assertion rejected") {
		t.Fatalf("the identity check rejected the multipart body: %s", logs)
	}
}

// doWith is do with edit applied to the request headers after the named
// ones are set (for repeated fields).
func (u *user) doWith(method, target string, body []byte, edit func(http.Header), headers ...string) response {
	u.t.Helper()
	req := u.request(method, target, body, headers...)
	edit(req.Header)
	req.Header.Set(identity.HeaderUserID, u.id)
	req.Header.Set(identity.HeaderSignature, testKeys.Sign(identity.Request{
		Method: method, Target: target, UserID: u.id, BodySHA256: identity.HashBody(body),
	}, time.Now()))
	return send(u.t, req, body, !u.offSpec)
}
