//go:build !unix

package proxy

import "syscall"

// peerClosed cannot look at the socket on this platform: a connection the
// upstream closed is found when the request written onto it fails.
func peerClosed(syscall.RawConn, bool) bool { return false }
