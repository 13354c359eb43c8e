package clientip_test

import (
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/internal/clientip"
	"github.com/valyala/fasthttp"
)

func TestOf(t *testing.T) {
	peer := net.IPv4(10, 0, 0, 9)
	cases := []struct {
		name string
		hops int
		xff  []string // one X-Forwarded-For line each
		want string
	}{
		{"direct: the header is ignored", 0, []string{"203.0.113.7"}, "10.0.0.9"},
		{"direct, no header", 0, nil, "10.0.0.9"},
		{"one proxy", 1, []string{"203.0.113.7"}, "203.0.113.7"},
		{"one proxy, client-written entries ignored", 1, []string{"6.6.6.6, 7.7.7.7,203.0.113.7"}, "203.0.113.7"},
		{"two proxies", 2, []string{"6.6.6.6, 203.0.113.7, 10.1.1.1"}, "203.0.113.7"},
		{"two proxies, entries on two lines", 2, []string{"6.6.6.6, 203.0.113.7", "10.1.1.1"}, "203.0.113.7"},
		{"chain shorter than the hops: peer", 2, []string{"203.0.113.7"}, "10.0.0.9"},
		{"no header behind a proxy: peer", 1, nil, "10.0.0.9"},
		{"garbage entry: peer", 1, []string{"203.0.113.7, unknown"}, "10.0.0.9"},
		{"empty entry: peer", 1, []string{"203.0.113.7, "}, "10.0.0.9"},
		{"oversized entry: peer", 1, []string{"1111111111111111111111111111111111111111111111111111111111111111111"}, "10.0.0.9"},
		{"address with port", 1, []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"IPv6", 1, []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 with port", 1, []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"IPv4-mapped IPv6", 1, []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for _, v := range tc.xff {
				h.Add("X-Forwarded-For", v)
			}
			if got := (clientip.Resolver{Hops: tc.hops}).Of(&h, peer).String(); got != tc.want {
				t.Fatalf("Of = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestScheme(t *testing.T) {
	cases := []struct {
		hops  int
		proto []string
		tls   bool
		want  string
	}{
		{0, []string{"https"}, false, "http"}, // direct: a client's claim is ignored
		{0, nil, true, "https"},
		{1, []string{"https"}, false, "https"},
		{1, []string{"HTTPS"}, false, "https"},
		{1, []string{"http, https"}, false, "https"},
		{1, []string{"https", "http"}, false, "http"},
		{1, []string{"gopher"}, false, "http"},
		{1, nil, false, "http"},
	}
	for _, tc := range cases {
		var h fasthttp.RequestHeader
		for _, v := range tc.proto {
			h.Add("X-Forwarded-Proto", v)
		}
		if got := string((clientip.Resolver{Hops: tc.hops}).Scheme(&h, tc.tls)); got != tc.want {
			t.Errorf("hops %d, X-Forwarded-Proto %q, tls %v: %s, want %s", tc.hops, tc.proto, tc.tls, got, tc.want)
		}
		if got := (clientip.Resolver{Hops: tc.hops}).HTTPS(&h, tc.tls); got != (tc.want == "https") {
			t.Errorf("hops %d, X-Forwarded-Proto %q, tls %v: HTTPS %v", tc.hops, tc.proto, tc.tls, got)
		}
	}
}
