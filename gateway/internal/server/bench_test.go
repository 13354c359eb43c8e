package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/config"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/server"
	"github.com/gatehouse-dev/gatehouse/gateway/internal/testissuer"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gatehouse-dev/gatehouse/pkg/settings"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/proxy"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/valyala/fasthttp"
)

// BenchmarkHandler measures one request through the gateway's handler (no
// client socket; the upstream is a trivial fasthttp server on 127.0.0.1)
// next to Fiber's unauthenticated reverse proxy to the same upstream. The
// difference is what the gateway adds per request: authentication from the
// token cache, header hygiene, the identity signature, request id, security
// headers, metrics and the access log line.
func BenchmarkHandler(b *testing.B) {
	upstream := trivialUpstream(b)
	key := testissuer.NewKey(jwa.EdDSA, "bench-key")
	iss := testissuer.Start(key)
	b.Cleanup(iss.Close)
	token := testissuer.Mint(key, iss.Claims("bench-user-2f1c9a7e3b5d4c6a", time.Now()))
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)

	cfg, err := config.Load(settings.MapEnv(map[string]string{
		"BETTER_AUTH_URL":   iss.URL,
		"TASKS_SERVICE_URL": "http://" + upstream,
		"IDENTITY_KEYS":     "bench:" + base64.StdEncoding.EncodeToString(secret),
	}))
	if err != nil {
		b.Fatal(err)
	}
	g, err := server.New(cfg, observe.NewLogger(io.Discard, "gateway", slog.LevelInfo), server.Hooks{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	if err := g.Keys.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	plain := fiber.New(fiber.Config{DisableStartupMessage: true})
	plain.All("/*", func(c *fiber.Ctx) error {
		return proxy.Do(c, "http://"+upstream+c.OriginalURL())
	})

	run := func(b *testing.B, h fasthttp.RequestHandler, headers ...string) {
		var req fasthttp.Request
		req.SetRequestURI("/api/tasks?limit=20")
		req.Header.SetHost("gateway.test")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, remote, nil)
		b.ReportAllocs()
		for b.Loop() {
			// A fresh request each time, as on the wire: the gateway adds
			// an X-Request-Id to the one it handled.
			req.Header.CopyTo(&ctx.Request.Header)
			ctx.Response.Reset()
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	b.Run("fiber-proxy", func(b *testing.B) { run(b, plain.Handler()) })
	b.Run("gateway", func(b *testing.B) { run(b, g.App.Handler(), "Authorization", "Bearer "+token) })
}

func trivialUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"items":[],"next_cursor":null}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}
