//go:build unix

package proxy

import "syscall"

// peerClosed reports whether an idle connection's peer has closed it: a
// non-blocking peek finds EOF, an error such as ECONNRESET, or — unless
// tls — bytes no request asked for. It reads nothing, takes one system call
// and never waits (as go-sql-driver/mysql's connCheck does).
func peerClosed(raw syscall.RawConn, tls bool) bool {
	closed := false
	err := raw.Read(func(fd uintptr) bool {
		var buf [1]byte
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		case err != nil, n == 0:
			closed = true
		default:
			closed = !tls
		}
		return true // never wait for readability
	})
	return closed || err != nil
}
