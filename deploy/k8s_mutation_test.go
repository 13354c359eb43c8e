package deploy

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Each policy check must be able to fail: break the built manifest the way
// a careless edit would, and the check must name the breakage.
func TestK8sChecksCatchBrokenManifests(t *testing.T) {
	container := func(m *k8sManifest, workload string) *corev1.Container {
		d := m.deployment(workload)
		return k8sContainer(d.Spec.Template.Spec, workload)
	}
	setEnv := func(c *corev1.Container, name string, v corev1.EnvVar) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i] = v
				return
			}
		}
		c.Env = append(c.Env, v)
	}
	dropEnv := func(c *corev1.Container, name string) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env = append(c.Env[:i], c.Env[i+1:]...)
				return
			}
		}
		t.Fatalf("container %s has no env %s to drop", c.Name, name)
	}
	secretValue := func(m *k8sManifest, key, from, to string) {
		s := m.secretNamed(t, "gatehouse-secrets")
		v := string(s.Data[key])
		if !strings.Contains(v, from) {
			t.Fatalf("secret %s = %q has no %q", key, v, from)
		}
		s.Data[key] = []byte(strings.Replace(v, from, to, 1))
	}
	policy := func(m *k8sManifest) []string { return m.policyProblems() }
	network := func(m *k8sManifest) []string { return m.networkProblems() }
	env := func(m *k8sManifest) []string { return m.envProblems() }

	for _, tc := range []struct {
		desc    string
		overlay string
		break_  func(m *k8sManifest)
		check   func(m *k8sManifest) []string
		want    string
	}{
		{"latest tag", "neon", func(m *k8sManifest) {
			container(m, "gateway").Image = "ghcr.io/gatehouse-dev/gatehouse-gateway:latest"
		}, policy, "tagged latest"},
		{"untagged image", "neon", func(m *k8sManifest) {
			container(m, "redis").Image = "redis"
		}, policy, "untagged"},
		{"our image on a branch tag", "neon", func(m *k8sManifest) {
			container(m, "tasks-service").Image = "ghcr.io/gatehouse-dev/gatehouse-tasks-service:main"
		}, policy, "release version"},
		{"no readiness probe", "neon", func(m *k8sManifest) {
			container(m, "tasks-service").ReadinessProbe = nil
		}, policy, "no readinessProbe"},
		{"liveness on the readiness path", "neon", func(m *k8sManifest) {
			container(m, "gateway").LivenessProbe.HTTPGet.Path = "/readyz"
		}, policy, "livenessProbe must be an HTTP GET of /healthz"},
		{"probe on an undeclared port", "neon", func(m *k8sManifest) {
			container(m, "gateway").ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9999)
		}, policy, "does not declare"},
		{"writable root file system", "neon", func(m *k8sManifest) {
			f := false
			container(m, "gateway").SecurityContext.ReadOnlyRootFilesystem = &f
		}, policy, "readOnlyRootFilesystem must be true"},
		{"root allowed", "local", func(m *k8sManifest) {
			s := m.statefulSets[0]
			s.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		}, policy, "runAsNonRoot must be true"},
		{"privilege escalation", "neon", func(m *k8sManifest) {
			tr := true
			k8sContainer(m.job("tasks-migrate").Spec.Template.Spec, "migrate").SecurityContext.AllowPrivilegeEscalation = &tr
		}, policy, "allowPrivilegeEscalation must be false"},
		{"capability added", "neon", func(m *k8sManifest) {
			container(m, "gateway").SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, policy, "adds capabilities"},
		{"no memory limit", "neon", func(m *k8sManifest) {
			delete(container(m, "tasks-service").Resources.Limits, corev1.ResourceMemory)
		}, policy, "no memory limit"},
		{"API token mounted", "neon", func(m *k8sManifest) {
			m.deployment("gateway").Spec.Template.Spec.AutomountServiceAccountToken = nil
		}, policy, "automountServiceAccountToken must be false"},
		{"rollout may drop capacity", "neon", func(m *k8sManifest) {
			one := intstr.FromInt32(1)
			m.deployment("gateway").Spec.Strategy.RollingUpdate.MaxUnavailable = &one
		}, policy, "maxUnavailable is 1, want 0"},
		{"single replica", "neon", func(m *k8sManifest) {
			one := int32(1)
			m.deployment("tasks-service").Spec.Replicas = &one
		}, policy, "replicas must be at least 2"},
		{"no PodDisruptionBudget", "neon", func(m *k8sManifest) {
			m.pdbs = m.pdbs[:0]
		}, policy, "0 PodDisruptionBudgets"},
		{"HPA may scale to one", "neon", func(m *k8sManifest) {
			one := int32(1)
			m.hpas[0].Spec.MinReplicas = &one
		}, policy, "minReplicas must be at least 2"},
		{"no zone spread", "neon", func(m *k8sManifest) {
			spec := &m.deployment("gateway").Spec.Template.Spec
			spec.TopologySpreadConstraints = spec.TopologySpreadConstraints[:1]
		}, policy, "topology.kubernetes.io/zone"},
		{"Service to a wrong port", "neon", func(m *k8sManifest) {
			for _, s := range m.services {
				if s.Name == "tasks-service" {
					s.Spec.Ports[0].TargetPort = intstr.FromString("admin")
				}
			}
		}, policy, "targetPort admin"},
		{"object outside the namespace", "neon", func(m *k8sManifest) {
			m.netpols[0].Namespace = "default"
		}, policy, `namespace "default"`},

		{"allow-all ingress policy", "neon", func(m *k8sManifest) {
			m.netpols = append(m.netpols, &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: k8sNamespace},
				Spec: networkingv1.NetworkPolicySpec{
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
				},
			})
		}, network, "a client on the internet -> Deployment/tasks-service:8081/TCP is allowed"},
		{"gateway label trusted in any namespace", "neon", func(m *k8sManifest) {
			for _, np := range m.netpols {
				if np.Name == "tasks-service-ingress" {
					np.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
				}
			}
		}, network, "in another namespace -> Deployment/tasks-service:8081/TCP is allowed"},
		{"no default deny", "local", func(m *k8sManifest) {
			for i, np := range m.netpols {
				if np.Name == "default-deny" {
					m.netpols = append(m.netpols[:i], m.netpols[i+1:]...)
					break
				}
			}
		}, network, "no default-deny"},
		{"tasks-service may reach the internet", "neon", func(m *k8sManifest) {
			for _, np := range m.netpols {
				if np.Name == "database-egress" {
					np.Spec.Egress[0].Ports = nil
				}
			}
		}, network, "-> a public HTTPS host:443/TCP is allowed"},
		{"gateway may reach the metadata service", "neon", func(m *k8sManifest) {
			for _, np := range m.netpols {
				if np.Name == "gateway-egress-auth" {
					np.Spec.Egress[0].To[0].IPBlock.Except = nil
					np.Spec.Egress[0].Ports = nil
				}
			}
		}, network, "the cloud metadata service:80/TCP is allowed"},
		{"database moved without its policy", "local", func(m *k8sManifest) {
			m.statefulSets[0].Spec.Template.Labels = map[string]string{"app.kubernetes.io/name": "pg"}
		}, network, "-> StatefulSet/postgres:5432/TCP is blocked"},

		{"required variable missing", "neon", func(m *k8sManifest) {
			dropEnv(container(m, "tasks-service"), "IDENTITY_KEYS")
		}, env, "required IDENTITY_KEYS is not set"},
		{"secret as a literal", "neon", func(m *k8sManifest) {
			setEnv(container(m, "gateway"), "IDENTITY_KEYS", corev1.EnvVar{Name: "IDENTITY_KEYS", Value: "k1:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNA=="})
		}, env, "IDENTITY_KEYS is a secret of the binary but comes from a literal"},
		{"misspelt variable", "neon", func(m *k8sManifest) {
			setEnv(container(m, "tasks-service"), "TASKS_ADRR", corev1.EnvVar{Name: "TASKS_ADRR", Value: ":8081"})
		}, env, "sets TASKS_ADRR, which the binary does not declare"},
		{"reference to a missing secret key", "neon", func(m *k8sManifest) {
			container(m, "tasks-service").Env[1].ValueFrom.SecretKeyRef.Key = "DATABASE_URI"
		}, env, `has no key "DATABASE_URI"`},
		{"value the binary rejects", "local", func(m *k8sManifest) {
			secretValue(m, "IDENTITY_KEYS", "local-dev:", "local-dev:!!")
		}, env, "IDENTITY_KEYS:"},
		{"grace period shorter than the drain", "neon", func(m *k8sManifest) {
			g := int64(20)
			m.deployment("gateway").Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, env, "terminationGracePeriodSeconds 20s < preStop 10s + SHUTDOWN_TIMEOUT 20s"},
		{"drain made longer than the grace period", "neon", func(m *k8sManifest) {
			setEnv(container(m, "tasks-service"), "SHUTDOWN_TIMEOUT", corev1.EnvVar{Name: "SHUTDOWN_TIMEOUT", Value: "60s"})
		}, env, "SHUTDOWN_TIMEOUT 1m0s"},
		{"replica drain shorter than the gateway's idle connections", "neon", func(m *k8sManifest) {
			setEnv(container(m, "gateway"), "UPSTREAM_IDLE_TIMEOUT", corev1.EnvVar{Name: "UPSTREAM_IDLE_TIMEOUT", Value: "10s"})
		}, env, "tasks-service SHUTDOWN_IDLE_GRACE 5s <= gateway UPSTREAM_IDLE_TIMEOUT 10s"},
		{"gateway drain shorter than a request", "neon", func(m *k8sManifest) {
			setEnv(container(m, "gateway"), "SHUTDOWN_TIMEOUT", corev1.EnvVar{Name: "SHUTDOWN_TIMEOUT", Value: "10s"})
		}, env, "gateway SHUTDOWN_TIMEOUT 10s < UPSTREAM_TIMEOUT 15s"},
		{"neon traffic through the direct endpoint", "neon", func(m *k8sManifest) {
			secretValue(m, "DATABASE_URL", "-pooler.", ".")
		}, env, "is not a -pooler endpoint"},
		{"neon without certificate verification", "neon", func(m *k8sManifest) {
			secretValue(m, "MIGRATIONS_DATABASE_URL", "sslmode=verify-full", "sslmode=require")
		}, env, `MIGRATIONS_DATABASE_URL has sslmode="require", want verify-full`},
		{"serving pods get the owner URL", "neon", func(m *k8sManifest) {
			c := container(m, "tasks-service")
			c.Env = append(c.Env, corev1.EnvVar{Name: "MIGRATIONS_DATABASE_URL", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: m.secretNamed(t, "gatehouse-secrets").Name}, Key: "MIGRATIONS_DATABASE_URL"},
			}})
		}, env, "only the migration Job needs the owner's URL"},
		{"password flag without its variable", "neon", func(m *k8sManifest) {
			dropEnv(container(m, "redis"), "REDIS_PASSWORD")
		}, env, "$(REDIS_PASSWORD) names no variable"},
		{"Redis without a password", "local", func(m *k8sManifest) {
			c := container(m, "redis")
			c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return a == "--requirepass" || a == "$(REDIS_PASSWORD)" })
		}, env, "not the one Redis requires"},
		{"URL to a Service that does not exist", "local", func(m *k8sManifest) {
			for _, cm := range m.configMaps {
				if strings.HasPrefix(cm.Name, "gateway-config") {
					cm.Data["TASKS_SERVICE_URL"] = "http://tasks:8081"
				}
			}
		}, env, "TASKS_SERVICE_URL names tasks:8081, which no Service offers"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			m := k8sBuild(t, "overlays/"+tc.overlay)
			if problems := tc.check(m); containsProblem(problems, tc.want) {
				t.Fatalf("the intact %s overlay already reports %q", tc.overlay, tc.want)
			}
			tc.break_(m)
			problems := tc.check(m)
			if !containsProblem(problems, tc.want) {
				t.Fatalf("broken manifest not caught: want a problem containing %q, got:\n  %s", tc.want, strings.Join(problems, "\n  "))
			}
		})
	}
}

func containsProblem(problems []string, want string) bool {
	for _, p := range problems {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}
