package deadline_test

import (
	"net"
	"testing"
	"time"
)

// clientPair returns a connection wrapped by WrapClient with exchange
// timeout to, and its raw peer (the "upstream"), over real TCP.
func clientPair(t *testing.T, to time.Duration) (client, upstream net.Conn) {
	t.Helper()
	w := newWatchdog(t)
	var raw net.Conn
	upstream, raw = pairOn(t, w.Listener)
	closeLater(t, upstream)
	return w.WrapClient(raw, to), upstream
}

// exchange plays one request/response on a client connection.
func exchange(t *testing.T, client, upstream net.Conn) {
	t.Helper()
	request(t, upstream, client) // upstream plays the server's part
}

func TestClientSlowResponseTimesOut(t *testing.T) {
	const to = 80 * time.Millisecond
	client, upstream := clientPair(t, to)
	start := time.Now()
	if _, err := client.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	// fasthttp clears the read deadline of a new connection after writing
	// its first request; that must not lift the exchange's timeout.
	if err := client.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := upstream.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	// The upstream sends part of its answer, then stalls: the exchange
	// still ends at its timeout, counted from the request's first byte.
	go func() {
		time.Sleep(to / 2)
		_, _ = upstream.Write([]byte("HTTP/1.1 200 OK\r\n"))
	}()
	if _, err := client.Read(make([]byte, 64)); err != nil {
		t.Fatalf("first bytes of the answer: %v", err)
	}
	_, err := client.Read(make([]byte, 64))
	timedOut(t, "stalled answer", time.Since(start), err, to)
}

func TestClientBlockedRequestTimesOut(t *testing.T) {
	const to = 80 * time.Millisecond
	client, _ := clientPair(t, to) // the upstream never reads
	took, err := writeUntilError(client)
	timedOut(t, "blocked request", took, err, to)
}

func TestClientIdleConnectionServesTheNextExchange(t *testing.T) {
	// Idle in the pool for longer than the timeout: the real deadlines
	// trip, and the next exchange's first write restores them.
	const to = 40 * time.Millisecond
	client, upstream := clientPair(t, to)
	exchange(t, client, upstream)
	time.Sleep(3 * to)
	exchange(t, client, upstream)
}

func TestClientBusyConnectionNeverTimesOut(t *testing.T) {
	// Each exchange has its own timeout: many quick ones in a row outlast
	// it together without tripping.
	const to = 40 * time.Millisecond
	client, upstream := clientPair(t, to)
	for range 12 { // 12 × 15 ms: longer than the timeout
		exchange(t, client, upstream)
		time.Sleep(15 * time.Millisecond)
	}
}

func TestClientTimeoutCountsFromTheExchangeNotTheDial(t *testing.T) {
	// A connection dialled long before its first request gets the whole
	// timeout for it.
	const to = 60 * time.Millisecond
	client, upstream := clientPair(t, to)
	time.Sleep(2 * to)
	go func() {
		if _, err := upstream.Read(make([]byte, 16)); err == nil {
			time.Sleep(to / 2)
			_, _ = upstream.Write([]byte("resp"))
		}
	}()
	if _, err := client.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Read(make([]byte, 16)); err != nil {
		t.Fatalf("answer within the timeout of a late first request: %v", err)
	}
}
