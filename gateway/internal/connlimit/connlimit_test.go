package connlimit

import (
	"net"
	"testing"
)

// TestAddrKey: an IPv4 client is counted by its address (IPv4-mapped IPv6
// included), an IPv6 client by its /64, so that one client cannot take a
// fresh slot per address of its prefix.
func TestAddrKey(t *testing.T) {
	key := func(ip string) string {
		p, ok := addrKey(&net.TCPAddr{IP: net.ParseIP(ip), Port: 4711})
		if !ok {
			return "none"
		}
		return p.String()
	}
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7/32"},
		{"::ffff:203.0.113.7", "203.0.113.7/32"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
	} {
		if got := key(tc.in); got != tc.want {
			t.Errorf("addrKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if _, ok := addrKey(&net.UnixAddr{Name: "/tmp/x", Net: "unix"}); ok {
		t.Error("a Unix socket peer has a key")
	}
}

// TestSlotsAreReleasedOnce: closing a connection twice frees one slot.
func TestSlotsAreReleasedOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listener(ln, Config{Max: 2, MaxPerAddr: 2, OverMax: []byte("max"), OverAddr: []byte("addr")}).(*listener)
	defer l.Close()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.Close()
	a.Close()
	if l.total != 1 || len(l.perAddr) != 1 {
		t.Fatalf("after closing one of two connections twice: total %d, addresses %d; want 1, 1", l.total, len(l.perAddr))
	}
}
