package deploy

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// A small NetworkPolicy evaluator, enough for the features our policies use
// (pod, namespace and ipBlock peers; numeric ports), so the tests can try
// the connections an attacker would and check the answer, instead of
// reading the YAML back.

// k8sPeer is one end of a connection: a pod (labels, namespace) or an
// address outside the cluster.
type k8sPeer struct {
	desc      string
	pod       bool
	labels    map[string]string
	namespace string
	nsLabels  map[string]string
	ip        netip.Addr
}

func (e k8sPeer) String() string { return e.desc }

// podPeer is a pod in the Gatehouse namespace; pod addresses come from a
// private range, as they do in every cluster.
func podPeer(desc string, podLabels map[string]string, n int) k8sPeer {
	return k8sPeer{
		desc:      desc,
		pod:       true,
		labels:    podLabels,
		namespace: k8sNamespace,
		nsLabels:  map[string]string{"kubernetes.io/metadata.name": k8sNamespace},
		ip:        netip.AddrFrom4([4]byte{10, 244, 1, byte(n)}),
	}
}

func externalPeer(desc, ip string) k8sPeer {
	return k8sPeer{desc: desc, ip: netip.MustParseAddr(ip)}
}

// matches reports whether peer rule np (declared in namespace ns) matches e.
func (e k8sPeer) matches(np networkingv1.NetworkPolicyPeer, ns string) bool {
	switch {
	case np.IPBlock != nil:
		prefix, err := netip.ParsePrefix(np.IPBlock.CIDR)
		if err != nil || !prefix.Contains(e.ip) {
			return false
		}
		for _, ex := range np.IPBlock.Except {
			if p, err := netip.ParsePrefix(ex); err != nil || p.Contains(e.ip) {
				return false
			}
		}
		return true
	case !e.pod:
		return false
	case np.NamespaceSelector != nil:
		if !k8sSelects(np.NamespaceSelector, e.nsLabels) {
			return false
		}
		return np.PodSelector == nil || k8sSelects(np.PodSelector, e.labels)
	case np.PodSelector != nil:
		return e.namespace == ns && k8sSelects(np.PodSelector, e.labels)
	}
	return false
}

// portMatches reports whether the rule's ports admit port/proto. Named
// ports are not admitted: the policies use numbers, and a name the
// evaluator cannot resolve must not count as an open door.
func portMatches(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type != 0 {
			continue
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= p.Port.IntVal && port <= end {
			return true
		}
	}
	return false
}

func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	for _, pt := range np.Spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	// policyTypes unset: Ingress always, Egress when egress rules exist.
	return len(np.Spec.PolicyTypes) == 0 && (t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0)
}

func selectsPod(np *networkingv1.NetworkPolicy, e k8sPeer) bool {
	return e.pod && e.namespace == np.Namespace && k8sSelects(&np.Spec.PodSelector, e.labels)
}

// allows reports whether the policies let from open port/proto on to. Both
// ends must agree: from's egress (if from is one of our pods) and to's
// ingress (if to is one of our pods). Pods selected by no policy of a
// direction are not isolated in that direction.
func (m *k8sManifest) allows(from, to k8sPeer, port int32, proto corev1.Protocol) bool {
	egressOK, egressIsolated := false, false
	if from.pod && from.namespace == k8sNamespace {
		for _, np := range m.netpols {
			if !hasType(np, networkingv1.PolicyTypeEgress) || !selectsPod(np, from) {
				continue
			}
			egressIsolated = true
			for _, rule := range np.Spec.Egress {
				if !portMatches(rule.Ports, port, proto) {
					continue
				}
				if len(rule.To) == 0 {
					egressOK = true
				}
				for _, peer := range rule.To {
					if to.matches(peer, np.Namespace) {
						egressOK = true
					}
				}
			}
		}
	}
	if egressIsolated && !egressOK {
		return false
	}

	ingressOK, ingressIsolated := false, false
	if to.pod && to.namespace == k8sNamespace {
		for _, np := range m.netpols {
			if !hasType(np, networkingv1.PolicyTypeIngress) || !selectsPod(np, to) {
				continue
			}
			ingressIsolated = true
			for _, rule := range np.Spec.Ingress {
				if !portMatches(rule.Ports, port, proto) {
					continue
				}
				if len(rule.From) == 0 {
					ingressOK = true
				}
				for _, peer := range rule.From {
					if from.matches(peer, np.Namespace) {
						ingressOK = true
					}
				}
			}
		}
	}
	return !ingressIsolated || ingressOK
}

// podPeers returns one peer per workload, keyed by workload name.
func (m *k8sManifest) podPeers() map[string]k8sPeer {
	out := map[string]k8sPeer{}
	for i, pod := range m.pods() {
		out[pod.name] = podPeer(pod.String(), pod.labels, i+10)
	}
	return out
}

// networkProblems tries the connections that must work and the ones an
// attacker would try, and reports every wrong answer.
func (m *k8sManifest) networkProblems() []string {
	var p []string
	pods := m.podPeers()
	for _, need := range []string{"gateway", "tasks-service", "tasks-migrate", "redis"} {
		if _, ok := pods[need]; !ok {
			p = append(p, "no workload "+need+" to check the network against")
		}
	}
	if len(p) > 0 {
		return p
	}
	gateway, tasks, migrate, redis := pods["gateway"], pods["tasks-service"], pods["tasks-migrate"], pods["redis"]
	betterAuth, localAuth := pods["better-auth"]
	postgres, localDB := pods["postgres"]

	// Attackers and bystanders.
	stranger := podPeer("an unlabelled pod in the namespace (kubectl run)", map[string]string{"run": "debug"}, 200)
	spoofed := k8sPeer{
		desc: "a pod labelled app.kubernetes.io/name=gateway in another namespace", pod: true,
		labels:    gateway.labels,
		namespace: "attacker", nsLabels: map[string]string{"kubernetes.io/metadata.name": "attacker"},
		ip: netip.MustParseAddr("10.244.9.9"),
	}
	internet := externalPeer("a client on the internet", "203.0.113.7")
	kubeDNS := k8sPeer{
		desc: "kube-dns", pod: true,
		labels:    map[string]string{"k8s-app": "kube-dns"},
		namespace: "kube-system", nsLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"},
		ip: netip.MustParseAddr("10.244.0.2"),
	}
	publicHTTPS := externalPeer("a public HTTPS host", "198.51.100.20")
	metadata := externalPeer("the cloud metadata service", "169.254.169.254")
	privateHost := externalPeer("a host on the node network", "10.0.0.5")

	type conn struct {
		from, to k8sPeer
		port     int32
		proto    corev1.Protocol
		want     bool
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	conns := []conn{
		// The paths Gatehouse needs.
		{internet, gateway, 8080, tcp, true},
		// /metrics has a port of its own (METRICS_ADDR): not for the internet.
		{internet, gateway, 9090, tcp, false},
		{gateway, tasks, 8081, tcp, true},
		// Nor tasks-service's, even for the gateway.
		{gateway, tasks, 9090, tcp, false},
		{internet, tasks, 9090, tcp, false},
		{gateway, redis, 6379, tcp, true},
		{gateway, kubeDNS, 53, udp, true},
		{tasks, kubeDNS, 53, tcp, true},
		{migrate, kubeDNS, 53, udp, true},

		// tasks-service trusts the identity headers, so only the gateway
		// may reach it: not other workloads, not strangers, not a pod that
		// copies the gateway's labels in another namespace, not the internet.
		{gateway, tasks, 9090, tcp, false},
		{redis, tasks, 8081, tcp, false},
		{migrate, tasks, 8081, tcp, false},
		{stranger, tasks, 8081, tcp, false},
		{spoofed, tasks, 8081, tcp, false},
		{internet, tasks, 8081, tcp, false},
		{tasks, tasks, 8081, tcp, false},

		// Redis only from the gateway.
		{stranger, redis, 6379, tcp, false},
		{tasks, redis, 6379, tcp, false},
		{internet, redis, 6379, tcp, false},

		// Nothing wanders off: no metadata service, no private networks,
		// no arbitrary internet from the data tier, no gateway on odd ports.
		{gateway, metadata, 80, tcp, false},
		{tasks, metadata, 80, tcp, false},
		{gateway, privateHost, 443, tcp, false},
		{tasks, publicHTTPS, 443, tcp, false},
		{migrate, publicHTTPS, 443, tcp, false},
		{redis, publicHTTPS, 443, tcp, false},
		{gateway, publicHTTPS, 22, tcp, false},
		{tasks, gateway, 8080, tcp, false},
		{stranger, publicHTTPS, 443, tcp, false},
		{stranger, kubeDNS, 53, udp, true},
	}
	neonDB := externalPeer("a Neon endpoint", "3.18.12.1")
	if localDB {
		conns = append(conns,
			conn{tasks, postgres, 5432, tcp, true},
			conn{migrate, postgres, 5432, tcp, true},
			conn{gateway, postgres, 5432, tcp, false},
			conn{stranger, postgres, 5432, tcp, false},
			conn{tasks, neonDB, 5432, tcp, false},
		)
		if localAuth {
			conns = append(conns, conn{betterAuth, postgres, 5432, tcp, true})
		}
	} else {
		conns = append(conns,
			conn{tasks, neonDB, 5432, tcp, true},
			conn{migrate, neonDB, 5432, tcp, true},
			conn{gateway, neonDB, 5432, tcp, false},
			conn{tasks, privateHost, 5432, tcp, false},
		)
	}
	if localAuth {
		conns = append(conns,
			conn{gateway, betterAuth, 8082, tcp, true},
			conn{tasks, betterAuth, 8082, tcp, false},
			conn{stranger, betterAuth, 8082, tcp, false},
			conn{gateway, publicHTTPS, 443, tcp, false},
			conn{betterAuth, publicHTTPS, 443, tcp, false},
		)
	} else {
		conns = append(conns, conn{gateway, publicHTTPS, 443, tcp, true})
	}

	for _, c := range conns {
		if got := m.allows(c.from, c.to, c.port, c.proto); got != c.want {
			verb := "blocked"
			if got {
				verb = "allowed"
			}
			p = append(p, fmt.Sprintf("%s -> %s:%d/%s is %s", c.from, c.to, c.port, c.proto, verb))
		}
	}

	// Every pod is covered by a default deny in both directions.
	deny := false
	for _, np := range m.netpols {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			hasType(np, networkingv1.PolicyTypeIngress) && hasType(np, networkingv1.PolicyTypeEgress) &&
			len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 {
			deny = true
		}
	}
	if !deny {
		p = append(p, "no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")
	}

	// The tasks-service ingress rules, read directly: every peer is a pod
	// selector without a namespace selector that matches the gateway's pods
	// and no other workload's.
	for _, np := range m.netpols {
		if !hasType(np, networkingv1.PolicyTypeIngress) || !selectsPod(np, tasks) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				p = append(p, "NetworkPolicy/"+np.Name+": admits every source to tasks-service")
			}
			for _, peer := range rule.From {
				if peer.IPBlock != nil || peer.NamespaceSelector != nil || peer.PodSelector == nil {
					p = append(p, "NetworkPolicy/"+np.Name+": tasks-service peer is not a same-namespace pod selector")
					continue
				}
				for name, pod := range pods {
					if k8sSelects(peer.PodSelector, pod.labels) != (name == "gateway") {
						p = append(p, fmt.Sprintf("NetworkPolicy/%s: tasks-service peer selector disagrees on %s", np.Name, name))
					}
				}
			}
		}
	}
	return p
}
