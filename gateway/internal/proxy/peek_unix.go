//go:build unix

package proxy

import "syscall"

// peekFD is the liveness check of an idle connection, for
// syscall.RawConn.Read: a non-blocking peek that finds EOF, an error such
// as ECONNRESET, or — unless the connection is TLS — bytes no request asked
// for, all of which set c.closed (as go-sql-driver/mysql's connCheck does).
// It returns true: never wait for readability.
func (c *conn) peekFD(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), c.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
	case err != nil, n == 0:
		c.closed = true
	default:
		c.closed = !c.tls
	}
	return true
}
