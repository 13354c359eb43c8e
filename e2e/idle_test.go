package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// authCall sends a request to Better Auth through a gateway and checks for
// 200; it is safe from any goroutine (it returns the error, never fails t).
func authCall(hc *http.Client, gatewayURL, method, path, bearer string, body any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, gatewayURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, truncate(b))
	}
	return nil
}

// TestBetterAuthIdleGapsAndRestarts: Better Auth's Node server closes an
// idle keep-alive connection after 5 s, and all of them when it stops. A
// session read (GET /api/auth/get-session) and a sign-in (POST
// /api/auth/sign-in/email) through the gateway succeed after idle gaps of
// 1, 6, 12 and 31 s (each gap on a gateway of its own, all at once), and
// right after Better Auth restarts between two requests.
func TestBetterAuthIdleGapsAndRestarts(t *testing.T) {
	t.Parallel() // mostly idle gaps; runs beside TestRollingRestartsFailNoRequest
	began := time.Now()
	f := startFleet(t)
	t.Logf("fleet up after %s", time.Since(began).Round(time.Millisecond))
	tr := &http.Transport{}
	tasksURL := "http://127.0.0.1:" + freePort(t) // never called: /api/auth only
	gaps := []time.Duration{time.Second, 6 * time.Second, 12 * time.Second, 31 * time.Second}
	gateways := make([]string, len(gaps))
	for i := range gaps {
		port := freePort(t)
		f.startGateway(port, tasksURL)
		gateways[i] = "http://127.0.0.1:" + port
	}
	t.Logf("gateways up after %s", time.Since(began).Round(time.Millisecond))
	u := signUp(t, gateways[0], "Idle", false)
	// The clients' idle connections are closed before the gateways stop
	// (cleanups run last first), so their drains need not wait for them.
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		u.session.http.CloseIdleConnections()
	})
	session := u.session.bearer
	signIn := map[string]string{"email": u.email, "password": u.password}
	// exchange is one session read and one sign-in, at the same time.
	exchange := func(hc *http.Client, gw string) []error {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = authCall(hc, gw, "GET", "/api/auth/get-session", session, nil) })
		wg.Go(func() { errs[1] = authCall(hc, gw, "POST", "/api/auth/sign-in/email", "", signIn) })
		wg.Wait()
		return errs
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i, gap := range gaps {
		wg.Go(func() {
			hc := &http.Client{Timeout: 20 * time.Second, Transport: tr}
			for round := range 2 {
				if round == 1 {
					time.Sleep(gap)
				}
				for _, err := range exchange(hc, gateways[i]) {
					if err != nil {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("after %s idle: %v", gap*time.Duration(round), err))
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	t.Logf("idle gaps done after %s", time.Since(began).Round(time.Millisecond))

	hc := &http.Client{Timeout: 20 * time.Second, Transport: tr}
	for round := range 2 {
		for _, err := range exchange(hc, gateways[0]) {
			if err != nil {
				t.Errorf("before restart %d: %v", round+1, err)
			}
		}
		if err := f.betterAuth.stop(); err != nil {
			t.Fatal(err)
		}
		f.startBetterAuth()
		for _, err := range exchange(hc, gateways[0]) {
			if err != nil {
				t.Errorf("right after restart %d: %v", round+1, err)
			}
		}
	}
	t.Logf("restarts done after %s", time.Since(began).Round(time.Millisecond))
}
