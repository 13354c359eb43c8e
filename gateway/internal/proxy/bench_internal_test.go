package proxy

import (
	"net"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BenchmarkTasksRequest is the work ToTasks does before the upstream
// exchange: header hygiene, X-Forwarded-*, the upstream URL and the
// identity signature, for a request with a browser's usual headers.
func BenchmarkTasksRequest(b *testing.B) {
	keys, err := identity.NewKeyring(identity.Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("http://tasks.internal:8081")
	p := &Proxy{Tasks: NewUpstream(UpstreamConfig{URL: u}), Keys: keys}
	app := fiber.New()
	var fctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/api/tasks?limit=20")
	req.Header.SetHost("gateway.test")
	for _, kv := range [][2]string{
		{"Authorization", "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1In0.c2ln"},
		{"Accept", "application/json"},
		{"Accept-Language", "en-GB,en;q=0.9"},
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"},
		{"Origin", "https://app.example"},
		{"Referer", "https://app.example/tasks"},
		{"X-Request-ID", "r-0123456789"},
	} {
		req.Header.Set(kv[0], kv[1])
	}
	fctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}, nil)
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	path := []byte("/api/tasks")
	b.ReportAllocs()
	for b.Loop() {
		fasthttp.ReleaseRequest(p.tasksRequest(c, "user-0001-2f1c9a7e3b5d", path))
	}
}
