package server

// Stopped is closed once Close has stopped what New started.
func (g *Gateway) Stopped() <-chan struct{} { return g.ctx.Done() }
