// Package proxy forwards requests to the gateway's upstreams. It owns what
// an upstream may receive: the request path (CheckPath rejects dot-segments,
// encoded slashes and other ambiguities), the headers (Clean drops
// client-supplied identity, forwarding and hop-by-hop headers), and the
// identity assertion, signed over the exact request-target and body that
// are sent.
package proxy
