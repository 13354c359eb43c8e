package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/identity"
	"github.com/gatehouse-dev/gatehouse/pkg/observe"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// TestAddedHeadBytes measures how much longer ToTasks makes a request head
// in the worst cases it can meet — the longest user id and key id, an IPv6
// client, no request id, a body without Content-Type or sent chunked — and
// checks it against MaxAddedHeadBytes, on which the gateway's head limits
// rely (config.TestHeadFitsTasksService).
func TestAddedHeadBytes(t *testing.T) {
	keys, err := identity.NewKeyring(identity.Key{ID: strings.Repeat("k", 64), Secret: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse("http://tasks.internal:8081/base")
	p := &Proxy{Tasks: NewUpstream(UpstreamConfig{URL: up}), Keys: keys}
	upstreamURL := len(up.Host) + len("/base")
	sub := strings.Repeat("u", identity.MaxUserIDBytes)
	app := fiber.New()
	for _, c := range []struct{ desc, head, body string }{
		{"GET", "GET /api/tasks?limit=1 HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer t\r\n\r\n", ""},
		{"POST without Content-Type", "POST /api/tasks HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n", "{}"},
		{"chunked POST", "POST /api/tasks HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n", "2\r\n{}\r\n0\r\n\r\n"},
		{"HTTP/1.0 without Host", "PUT /api/tasks/x HTTP/1.0\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n", "{}"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			var fctx fasthttp.RequestCtx
			var req fasthttp.Request
			if err := req.Read(bufio.NewReader(strings.NewReader(c.head + c.body))); err != nil {
				t.Fatal(err)
			}
			fctx.Init(&req, &net.TCPAddr{IP: net.ParseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Port: 65535}, nil)
			ctx := app.AcquireCtx(&fctx)
			defer app.ReleaseCtx(ctx)
			observe.AssignRequestID(ctx)
			out := p.tasksRequest(ctx, sub, req.URI().PathOriginal())
			defer fasthttp.ReleaseRequest(out)
			var wire bytes.Buffer
			w := bufio.NewWriter(&wire)
			if err := out.Write(w); err != nil {
				t.Fatal(err)
			}
			_ = w.Flush()
			upstreamHead := bytes.Index(wire.Bytes(), []byte("\r\n\r\n")) + 4
			// The client's head without its credentials, which never go
			// upstream (the token bounds the user id, but count it anyway).
			clientHead := len(c.head) - len("Authorization: Bearer t\r\n")
			added := upstreamHead - clientHead - upstreamURL
			t.Logf("%d bytes added:\n%s", added, wire.Bytes()[:upstreamHead])
			if added > MaxAddedHeadBytes {
				t.Errorf("ToTasks added %d bytes to the head, more than MaxAddedHeadBytes (%d)", added, MaxAddedHeadBytes)
			}
		})
	}
}
