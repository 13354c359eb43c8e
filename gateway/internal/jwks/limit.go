package jwks

import (
	"io"
	"net/http"
)

// maxJWKSBytes bounds a JWKS response. Better Auth's holds a handful of
// keys; a multi-megabyte answer is a fault or an attack, and a truncated
// body fails to parse, which keeps the last good keys.
const maxJWKSBytes = 1 << 20

type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxJWKSBytes), resp.Body}
	return resp, nil
}

// limitClient returns a copy of c whose responses are cut at maxJWKSBytes.
func limitClient(c *http.Client) *http.Client {
	cp := *c
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = limitedTransport{next: next}
	return &cp
}
