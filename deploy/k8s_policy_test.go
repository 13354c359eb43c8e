package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// k8sApps are the two Gatehouse services that must survive a node loss and
// a rollout: replicated, spread, budgeted, autoscaled, drained gracefully.
var k8sApps = []string{"gateway", "tasks-service"}

// k8sPod is the pod template of one workload.
type k8sPod struct {
	kind, name string
	labels     map[string]string
	spec       *corev1.PodSpec
	serving    bool // long-running (Deployment, StatefulSet), as opposed to a Job
}

func (p k8sPod) String() string { return p.kind + "/" + p.name }

// pods lists the pod template of every workload.
func (m *k8sManifest) pods() []k8sPod {
	var out []k8sPod
	for _, d := range m.deployments {
		out = append(out, k8sPod{"Deployment", d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec, true})
	}
	for _, s := range m.statefulSets {
		out = append(out, k8sPod{"StatefulSet", s.Name, s.Spec.Template.Labels, &s.Spec.Template.Spec, true})
	}
	for _, j := range m.jobs {
		out = append(out, k8sPod{"Job", j.Name, j.Spec.Template.Labels, &j.Spec.Template.Spec, false})
	}
	return out
}

// k8sSelects reports whether sel selects a pod with these labels. A nil
// selector selects nothing; an empty one selects everything.
func k8sSelects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(podLabels))
}

// policyProblems checks everything that does not need the binaries' own
// configuration (see k8s_env_test.go for that) nor the network (k8s_netpol_test.go).
func (m *k8sManifest) policyProblems() []string {
	var p []string
	p = append(p, m.namespaceProblems()...)
	for _, pod := range m.pods() {
		p = append(p, podProblems(pod)...)
	}
	for _, name := range k8sApps {
		p = append(p, m.availabilityProblems(name)...)
	}
	p = append(p, m.serviceProblems()...)
	p = append(p, m.jobProblems()...)
	return p
}

func (m *k8sManifest) namespaceProblems() []string {
	var p []string
	check := func(kind string, o metav1.ObjectMeta) {
		if o.Namespace != k8sNamespace {
			p = append(p, fmt.Sprintf("%s/%s: namespace %q, want %q", kind, o.Name, o.Namespace, k8sNamespace))
		}
	}
	for _, o := range m.serviceAccounts {
		check("ServiceAccount", o.ObjectMeta)
	}
	for _, o := range m.configMaps {
		check("ConfigMap", o.ObjectMeta)
	}
	for _, o := range m.secrets {
		check("Secret", o.ObjectMeta)
	}
	for _, o := range m.services {
		check("Service", o.ObjectMeta)
	}
	for _, o := range m.deployments {
		check("Deployment", o.ObjectMeta)
	}
	for _, o := range m.statefulSets {
		check("StatefulSet", o.ObjectMeta)
	}
	for _, o := range m.jobs {
		check("Job", o.ObjectMeta)
	}
	for _, o := range m.pdbs {
		check("PodDisruptionBudget", o.ObjectMeta)
	}
	for _, o := range m.hpas {
		check("HorizontalPodAutoscaler", o.ObjectMeta)
	}
	for _, o := range m.netpols {
		check("NetworkPolicy", o.ObjectMeta)
	}
	found := false
	for _, ns := range m.namespaces {
		if ns.Name != k8sNamespace {
			p = append(p, fmt.Sprintf("Namespace/%s: unexpected namespace", ns.Name))
			continue
		}
		found = true
		if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			p = append(p, fmt.Sprintf("Namespace/%s: pod-security.kubernetes.io/enforce is %q, want restricted", ns.Name, ns.Labels["pod-security.kubernetes.io/enforce"]))
		}
	}
	if !found {
		p = append(p, "no Namespace "+k8sNamespace)
	}
	return p
}

// podProblems checks one pod template: it runs as a non-root user with a
// read-only root file system, no privilege escalation and no capabilities,
// has no API token, has requests and limits, runs pinned images and, when
// it serves, is probed.
func podProblems(pod k8sPod) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, pod.String()+": "+fmt.Sprintf(format, args...)) }
	spec := pod.spec

	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		bad("automountServiceAccountToken must be false (no workload talks to the Kubernetes API)")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		bad("shares a host namespace")
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod seccompProfile must be RuntimeDefault")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			bad("volume %s is a hostPath", v.Name)
		}
	}

	containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
	if len(spec.Containers) == 0 {
		bad("no containers")
	}
	for _, c := range containers {
		cbad := func(format string, args ...any) { bad("container %s: %s", c.Name, fmt.Sprintf(format, args...)) }
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			cbad("runAsNonRoot must be true")
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		if uid == nil || *uid == 0 {
			cbad("runAsUser must name a non-zero uid (an image's USER may be a name the kubelet cannot check)")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			cbad("allowPrivilegeEscalation must be false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			cbad("privileged")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			cbad("readOnlyRootFilesystem must be true")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			cbad("capabilities must drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			cbad("adds capabilities %v", sc.Capabilities.Add)
		}

		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			switch {
			case !hasReq || req.IsZero():
				cbad("no %s request", res)
			case !hasLim || lim.IsZero():
				cbad("no %s limit", res)
			case req.Cmp(lim) > 0:
				cbad("%s request %s exceeds limit %s", res, req.String(), lim.String())
			}
		}

		if problem := imageProblem(c.Image); problem != "" {
			cbad("image %q: %s", c.Image, problem)
		}

		if pod.serving && !slices.ContainsFunc(spec.InitContainers, func(ic corev1.Container) bool { return ic.Name == c.Name }) {
			if c.LivenessProbe == nil {
				cbad("no livenessProbe")
			}
			if c.ReadinessProbe == nil {
				cbad("no readinessProbe")
			}
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if probe != nil && probe.HTTPGet != nil && !containerHasPort(c, probe.HTTPGet.Port) {
					cbad("probe %s targets port %s that the container does not declare", probe.HTTPGet.Path, probe.HTTPGet.Port.String())
				}
			}
		}
	}
	return p
}

// imageRef splits repository[:tag][@digest].
var imageRef = regexp.MustCompile(`^([a-z0-9][a-z0-9._/:-]*?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:[0-9a-f]{64})?$`)

// ourImage is a Gatehouse image: it must carry a release version.
var ourImage = regexp.MustCompile(`^ghcr\.io/gatehouse-dev/`)

// releaseTag is a semantic version tag (0.1.0, 1.2.3-rc.1).
var releaseTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)

// imageProblem says why ref is not a pinned image, or "".
func imageProblem(ref string) string {
	// A registry port (host:5000/x) would read as a tag; split at the last /.
	slash := strings.LastIndex(ref, "/")
	name := ref[slash+1:]
	m := imageRef.FindStringSubmatch(name)
	if ref == "" || m == nil {
		return "not an image reference"
	}
	tag, digest := m[2], m[3]
	switch {
	case tag == "" && digest == "":
		return "untagged (means latest)"
	case tag == "latest":
		return "tagged latest"
	case ourImage.MatchString(ref) && digest == "" && !releaseTag.MatchString(tag):
		return "a Gatehouse image must be pinned to a release version"
	}
	return ""
}

// containerHasPort reports whether port (a name or number) is one of c's ports.
func containerHasPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if port.Type == intstr.String && cp.Name == port.StrVal || port.Type == intstr.Int && cp.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

// availabilityProblems checks that app survives a rollout and a node loss:
// two replicas or more, surge-only rolling updates, spread over nodes and
// zones, a PodDisruptionBudget that lets a drain proceed one pod at a time,
// an HPA that never goes below two, and HTTP probes on /healthz and /readyz.
func (m *k8sManifest) availabilityProblems(app string) []string {
	d := m.deployment(app)
	if d == nil {
		return []string{"no Deployment " + app}
	}
	var p []string
	bad := func(format string, args ...any) { p = append(p, "Deployment/"+app+": "+fmt.Sprintf(format, args...)) }
	podLabels := d.Spec.Template.Labels

	if !k8sSelects(d.Spec.Selector, podLabels) {
		bad("selector does not select its own pod template")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		bad("replicas must be at least 2")
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != "RollingUpdate" || ru == nil || ru.MaxUnavailable == nil {
		bad("strategy must be RollingUpdate with maxUnavailable: 0")
	} else {
		if unavailable, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, 100, true); err != nil || unavailable != 0 {
			bad("maxUnavailable is %s, want 0 (a rollout must never remove serving capacity)", ru.MaxUnavailable.String())
		}
		if ru.MaxSurge != nil {
			if surge, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, 100, true); err != nil || surge == 0 {
				bad("maxSurge must be above 0 when maxUnavailable is 0, or the rollout cannot progress")
			}
		}
	}

	spread := map[string]bool{}
	for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
		if k8sSelects(tsc.LabelSelector, podLabels) && tsc.MaxSkew >= 1 {
			spread[tsc.TopologyKey] = true
		}
	}
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		if !spread[key] {
			bad("no topologySpreadConstraint over %s that selects its pods", key)
		}
	}

	pdbs := 0
	for _, pdb := range m.pdbs {
		if !k8sSelects(pdb.Spec.Selector, podLabels) {
			continue
		}
		pdbs++
		replicas := int32(2)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(replicas), true)
			if err != nil || n < 1 || n >= int(replicas) {
				bad("PodDisruptionBudget/%s maxUnavailable %s must allow 1..replicas-1 evictions", pdb.Name, pdb.Spec.MaxUnavailable.String())
			}
		case pdb.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(replicas), true)
			if err != nil || n < 1 || n >= int(replicas) {
				bad("PodDisruptionBudget/%s minAvailable %s must keep 1..replicas-1 pods", pdb.Name, pdb.Spec.MinAvailable.String())
			}
		default:
			bad("PodDisruptionBudget/%s sets neither maxUnavailable nor minAvailable", pdb.Name)
		}
	}
	if pdbs != 1 {
		bad("%d PodDisruptionBudgets select its pods, want exactly 1", pdbs)
	}

	hpas := 0
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != app {
			continue
		}
		hpas++
		if ref.APIVersion != "apps/v1" {
			bad("HorizontalPodAutoscaler/%s targets apiVersion %q", h.Name, ref.APIVersion)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			bad("HorizontalPodAutoscaler/%s minReplicas must be at least 2", h.Name)
		}
		if h.Spec.MinReplicas != nil && h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			bad("HorizontalPodAutoscaler/%s maxReplicas %d < minReplicas", h.Name, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			bad("HorizontalPodAutoscaler/%s has no metrics", h.Name)
		}
	}
	if hpas != 1 {
		bad("%d HorizontalPodAutoscalers target it, want exactly 1", hpas)
	}

	c := k8sContainer(d.Spec.Template.Spec, app)
	if c == nil {
		bad("no container named %s", app)
		return p
	}
	for _, want := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	} {
		if want.probe == nil || want.probe.HTTPGet == nil || want.probe.HTTPGet.Path != want.path {
			bad("%s must be an HTTP GET of %s", want.what, want.path)
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		// Our images are distroless: there is no shell for an exec sleep.
		bad("container %s needs a preStop sleep action, so endpoints drop the pod before it stops accepting", app)
	}
	return p
}

// k8sContainer returns the container called name, or nil.
func k8sContainer(spec corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

// serviceProblems checks that every Service selects pods and that its
// targetPort exists on them.
func (m *k8sManifest) serviceProblems() []string {
	var p []string
	for _, svc := range m.services {
		if len(svc.Spec.Selector) == 0 {
			p = append(p, "Service/"+svc.Name+": no selector")
			continue
		}
		var selected []k8sPod
		for _, pod := range m.pods() {
			if pod.serving && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.labels)) {
				selected = append(selected, pod)
			}
		}
		if len(selected) != 1 {
			p = append(p, fmt.Sprintf("Service/%s: selects %d workloads, want 1", svc.Name, len(selected)))
			continue
		}
		for _, sp := range svc.Spec.Ports {
			found := slices.ContainsFunc(selected[0].spec.Containers, func(c corev1.Container) bool { return containerHasPort(c, sp.TargetPort) })
			if !found {
				p = append(p, fmt.Sprintf("Service/%s: targetPort %s is not a port of %s", svc.Name, sp.TargetPort.String(), selected[0]))
			}
		}
		if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
			p = append(p, fmt.Sprintf("Service/%s: type %s; expose the gateway with your own Ingress or LoadBalancer, nothing else", svc.Name, svc.Spec.Type))
		}
	}
	return p
}

// jobProblems checks that Jobs end and clean up after themselves.
func (m *k8sManifest) jobProblems() []string {
	var p []string
	for _, j := range m.jobs {
		if j.Spec.BackoffLimit == nil {
			p = append(p, "Job/"+j.Name+": no backoffLimit")
		}
		if j.Spec.ActiveDeadlineSeconds == nil {
			p = append(p, "Job/"+j.Name+": no activeDeadlineSeconds")
		}
		if j.Spec.TTLSecondsAfterFinished == nil {
			p = append(p, "Job/"+j.Name+": no ttlSecondsAfterFinished (a finished Job blocks the next apply: its pod template is immutable)")
		}
	}
	return p
}
