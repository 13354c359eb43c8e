package e2e

import (
	"testing"
	"time"
)

// TestRollingRestartsFailNoRequest is deploy/README.md's promise: a
// rolling update fails no request. Two tasks-service replicas sit behind a
// kube-proxy-like balancer, two gateways in front of it behind another,
// and steady load (creates, reads, updates, completes, lists, deletes on
// kept-alive connections) runs through the outer balancer while each
// replica, then each gateway, is replaced the way Kubernetes does it: out
// of rotation, a pause standing for preStop, SIGTERM (the binary drains),
// a new process on the same port, back in rotation. Not one request may
// fail.
func TestRollingRestartsFailNoRequest(t *testing.T) {
	t.Parallel()
	f := startFleet(t)
	tasksPorts := []string{freePort(t), freePort(t)}
	tasks := []*proc{f.startTasks(tasksPorts[0]), f.startTasks(tasksPorts[1])}
	tasksLB := startBalancer(t, "127.0.0.1:"+tasksPorts[0], "127.0.0.1:"+tasksPorts[1])
	gwPorts := []string{freePort(t), freePort(t)}
	gateways := []*proc{f.startGateway(gwPorts[0], tasksLB.url()), f.startGateway(gwPorts[1], tasksLB.url())}
	clientLB := startBalancer(t, "127.0.0.1:"+gwPorts[0], "127.0.0.1:"+gwPorts[1])

	u := signUp(t, clientLB.url(), "Rolling", false)
	token := u.jwt(t)

	// roll replaces procs[i] one at a time behind lb.
	roll := func(lb *balancer, ports []string, procs []*proc, start func(port string) *proc) {
		for i := range procs {
			others := []string{}
			for j, p := range ports {
				if j != i {
					others = append(others, "127.0.0.1:"+p)
				}
			}
			lb.set(others...)                      // the endpoint is removed
			time.Sleep(time.Second)                // preStop: nothing new is routed to it
			terminate(t, procs[i], 25*time.Second) // SIGTERM: drain, exit
			procs[i] = start(ports[i])
			all := []string{}
			for _, p := range ports {
				all = append(all, "127.0.0.1:"+p)
			}
			lb.set(all...)
			time.Sleep(time.Second)
		}
	}

	for _, phase := range []struct {
		name string
		run  func()
		// direct is a second load sent straight to tasks-service through
		// its balancer, by a client that retries nothing (the gateway
		// would retry an idempotent request for it): every response before
		// a replica closes a connection must have said Connection: close.
		direct bool
	}{
		{"tasks-service replicas", func() { roll(tasksLB, tasksPorts, tasks, f.startTasks) }, true},
		{"gateways", func() {
			roll(clientLB, gwPorts, gateways, func(port string) *proc { return f.startGateway(port, tasksLB.url()) })
		}, false},
	} {
		loads := map[string]*load{"through the gateways": startLoad(clientLB.url(), bearer(token), 6)}
		if phase.direct {
			loads["straight to tasks-service"] = startLoad(tasksLB.url(), signedAs(t, f.identityKeys, u.id), 2)
		}
		time.Sleep(time.Second) // connections to every replica, kept alive
		phase.run()
		for name, l := range loads {
			ok, failed := l.finish()
			t.Logf("rolling restart of the %s, load %s: %d requests succeeded, %d failed", phase.name, name, ok, len(failed))
			for i, f := range failed {
				if i == 10 {
					t.Errorf("... and %d more", len(failed)-10)
					break
				}
				t.Errorf("rolling restart of the %s, load %s: %s", phase.name, name, f)
			}
			if ok < 50 {
				t.Errorf("rolling restart of the %s, load %s: only %d requests succeeded; the load did not run", phase.name, name, ok)
			}
		}
	}
}
