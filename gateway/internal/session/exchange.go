package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// maxResponseBytes bounds Better Auth's answer to /api/auth/token: a JSON
// object holding one JWT (0.5-2 KiB).
const maxResponseBytes = 64 << 10

// newClient returns the HTTP client for exchanges: no proxy from the
// environment, no redirects, no transparent decompression, and idle
// connections retired after idle (UPSTREAM_IDLE_TIMEOUT, 4 s by default),
// before Node (Better Auth's usual host) closes them after 5 s.
func newClient(conns int, idle time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   conns,
			IdleConnTimeout:       idle,
			DisableCompression:    true,
			ResponseHeaderTimeout: time.Minute, // the request context's timeout is the real bound
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch sends GET TokenURL with the session cookie alone and returns the
// JWT of Better Auth's answer. 401 and 403 are ErrRefused; anything else
// that is not a 200 with {"token":"..."} is ErrUnavailable.
func (e *Exchanger) fetch(ctx context.Context, c Cookie, client string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.cfg.TokenURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header = http.Header{
		"Cookie":     {c.Name + "=" + string(c.Value)},
		"Accept":     {"application/json"},
		"User-Agent": {"gatehouse-gateway"},
	}
	if client != "" {
		req.Header["X-Forwarded-For"] = []string{client}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return nil, ErrRefused
	default:
		return nil, fmt.Errorf("%w: Better Auth answered %d", ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", ErrUnavailable, maxResponseBytes)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		return nil, fmt.Errorf("%w: the answer holds no token", ErrUnavailable)
	}
	return []byte(out.Token), nil
}
