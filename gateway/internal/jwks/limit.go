package jwks

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxJWKSBytes bounds a JWKS response. Better Auth's holds a handful of
// keys; a multi-megabyte answer is a fault or an attack, and a truncated
// body fails to parse, which keeps the last good keys.
const maxJWKSBytes = 1 << 20

// maxRedirects bounds the redirects one fetch follows.
const maxRedirects = 5

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

// guardClient returns a copy of c whose responses are cut at maxJWKSBytes
// and which, unless c has a redirect policy of its own, follows at most
// maxRedirects redirects and none from https to http (refuseDowngrade).
func guardClient(c *http.Client) *http.Client {
	cp := *c
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = limitedTransport{next: next}
	if cp.CheckRedirect == nil {
		cp.CheckRedirect = refuseDowngrade
	}
	return &cp
}

// refuseDowngrade is the fetch's redirect policy: keys asked for over TLS
// never come over plain HTTP, where anyone on the path could replace them
// (net/http's default follows https -> http). A redirect from http to https
// is followed, as a load balancer that upgrades the scheme sends one.
func refuseDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("jwks: stopped after %d redirects", maxRedirects)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("jwks: refused a redirect from https to " + req.URL.Redacted())
	}
	return nil
}
