package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/starting":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()

	tests := []struct {
		desc    string
		target  string
		timeout time.Duration
		wantErr string // empty: healthy
	}{
		{"2xx is healthy", srv.URL + "/readyz", time.Second, ""},
		{"503 is unhealthy", srv.URL + "/starting", time.Second, "status 503"},
		{"a redirect is not followed", srv.URL + "/moved", time.Second, "status 302"},
		{"no answer in time", srv.URL + "/slow", 50 * time.Millisecond, "no answer in time"},
		{"relative URL refused", "/readyz", time.Second, "not an absolute http URL"},
		{"other scheme refused", "file:///etc/passwd", time.Second, "not an absolute http URL"},
		{"nothing listening", "http://127.0.0.1:1/readyz", time.Second, "connect"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			err := check(ctx, http.DefaultClient, tc.target)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("check(%q) = %v, want healthy", tc.target, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("check(%q) = %v, want error containing %q", tc.target, err, tc.wantErr)
			}
		})
	}
}
