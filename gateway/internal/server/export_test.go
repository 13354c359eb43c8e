package server

import "github.com/gatehouse-dev/gatehouse/gateway/internal/deadline"

// Watchdog exposes the gateway's deadline watchdog to the tests.
func (g *Gateway) Watchdog() *deadline.Watchdog { return g.deadlines }
