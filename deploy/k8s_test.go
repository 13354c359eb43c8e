package deploy

// Kubernetes manifests (deploy/k8s): every overlay is built with the
// kustomize API, every object is decoded strictly into the typed k8s.io/api
// structs, and the result is checked against the deployment policy. Each
// check returns problems instead of failing, so that k8s_mutation_test.go
// can prove it notices a broken manifest.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// k8sDir is the kustomize tree, relative to deploy/ where tests run.
const k8sDir = "k8s"

// k8sNamespace is where every namespaced object must land.
const k8sNamespace = "gatehouse"

// k8sOverlays are the deployable overlays; base is built too (it must build
// on its own) but is not deployable with its placeholder Secret.
var k8sOverlays = []string{"local", "neon"}

// k8sManifest is one built overlay, decoded.
type k8sManifest struct {
	name            string
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	services        []*corev1.Service
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	jobs            []*batchv1.Job
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	netpols         []*networkingv1.NetworkPolicy
}

// k8sDiskFS copies deploy/k8s into an in-memory file system rooted at /k8s.
// An operator's real overlays/neon/secrets.env is never read: the neon
// overlay is built from its committed secrets.env.example instead.
func k8sDiskFS(t *testing.T) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(k8sDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(path)
		if d.IsDir() {
			return mem.MkdirAll("/" + rel)
		}
		if rel == k8sDir+"/overlays/neon/secrets.env" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+rel, b)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", k8sDir, err)
	}
	example, err := mem.ReadFile("/" + k8sDir + "/overlays/neon/secrets.env.example")
	if err != nil {
		t.Fatalf("overlays/neon/secrets.env.example: %v", err)
	}
	if err := mem.WriteFile("/"+k8sDir+"/overlays/neon/secrets.env", example); err != nil {
		t.Fatal(err)
	}
	return mem
}

// k8sBuild runs kustomize on dir ("base" or "overlays/NAME") and decodes the
// output strictly.
func k8sBuild(t *testing.T, dir string) *k8sManifest {
	t.Helper()
	m, err := k8sBuildFS(k8sDiskFS(t), dir)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return m
}

// k8sBuildFS is k8sBuild over a given file system.
func k8sBuildFS(fsys filesys.FileSystem, dir string) (*k8sManifest, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(fsys, "/"+k8sDir+"/"+dir)
	if err != nil {
		return nil, err
	}
	m := &k8sManifest{name: dir}
	for _, r := range res.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		if err := m.add(r.GetGvk().ApiVersion(), r.GetKind(), b); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// add decodes one object strictly (unknown or duplicate fields are errors)
// into its typed struct. A kind the policy does not know is an error too,
// so nothing reaches a cluster unchecked.
func (m *k8sManifest) add(apiVersion, kind string, doc []byte) error {
	var err error
	decode := func(into any) { err = k8sDecodeStrict(doc, into) }
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		o := new(corev1.Namespace)
		decode(o)
		m.namespaces = append(m.namespaces, o)
	case "v1/ServiceAccount":
		o := new(corev1.ServiceAccount)
		decode(o)
		m.serviceAccounts = append(m.serviceAccounts, o)
	case "v1/ConfigMap":
		o := new(corev1.ConfigMap)
		decode(o)
		m.configMaps = append(m.configMaps, o)
	case "v1/Secret":
		o := new(corev1.Secret)
		decode(o)
		m.secrets = append(m.secrets, o)
	case "v1/Service":
		o := new(corev1.Service)
		decode(o)
		m.services = append(m.services, o)
	case "apps/v1/Deployment":
		o := new(appsv1.Deployment)
		decode(o)
		m.deployments = append(m.deployments, o)
	case "apps/v1/StatefulSet":
		o := new(appsv1.StatefulSet)
		decode(o)
		m.statefulSets = append(m.statefulSets, o)
	case "batch/v1/Job":
		o := new(batchv1.Job)
		decode(o)
		m.jobs = append(m.jobs, o)
	case "policy/v1/PodDisruptionBudget":
		o := new(policyv1.PodDisruptionBudget)
		decode(o)
		m.pdbs = append(m.pdbs, o)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		o := new(autoscalingv2.HorizontalPodAutoscaler)
		decode(o)
		m.hpas = append(m.hpas, o)
	case "networking.k8s.io/v1/NetworkPolicy":
		o := new(networkingv1.NetworkPolicy)
		decode(o)
		m.netpols = append(m.netpols, o)
	default:
		return &k8sDecodeError{apiVersion: apiVersion, kind: kind, msg: "kind not covered by the deployment policy"}
	}
	if err != nil {
		return &k8sDecodeError{apiVersion: apiVersion, kind: kind, msg: err.Error()}
	}
	return nil
}

// k8sDecodeStrict decodes like the API server with strict field validation:
// duplicate keys, unknown fields and fields in the wrong case are errors.
// (encoding/json, and so yaml.UnmarshalStrict, matches field names without
// regard to case: readOnlyRootFileSystem would quietly set
// readOnlyRootFilesystem there, while a cluster drops it.)
func k8sDecodeStrict(doc []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, into, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

type k8sDecodeError struct{ apiVersion, kind, msg string }

func (e *k8sDecodeError) Error() string { return e.apiVersion + " " + e.kind + ": " + e.msg }

// k8sReport fails t with every problem, one per line.
func k8sReport(t *testing.T, overlay string, problems []string) {
	t.Helper()
	if len(problems) > 0 {
		t.Errorf("%s: %d problem(s):\n  %s", overlay, len(problems), strings.Join(problems, "\n  "))
	}
}

func TestK8sOverlaysBuildAndDecodeStrictly(t *testing.T) {
	for _, dir := range []string{"base", "overlays/local", "overlays/neon"} {
		t.Run(dir, func(t *testing.T) {
			m := k8sBuild(t, dir)
			// The objects each overlay must have: a missing one would let
			// the policy checks below pass vacuously.
			for _, want := range []struct {
				what string
				got  int
				min  int
			}{
				{"Deployments", len(m.deployments), 3},
				{"Services", len(m.services), 3},
				{"Jobs", len(m.jobs), 1},
				{"PodDisruptionBudgets", len(m.pdbs), 2},
				{"HorizontalPodAutoscalers", len(m.hpas), 2},
				{"NetworkPolicies", len(m.netpols), 6},
				{"ServiceAccounts", len(m.serviceAccounts), 3},
				{"Secrets", len(m.secrets), 1},
				{"ConfigMaps", len(m.configMaps), 2},
			} {
				if want.got < want.min {
					t.Errorf("%s: %d %s, want at least %d", dir, want.got, want.what, want.min)
				}
			}
			for _, name := range []string{"gateway", "tasks-service", "redis"} {
				if m.deployment(name) == nil {
					t.Errorf("%s: no Deployment %q", dir, name)
				}
			}
		})
	}
}

func TestK8sStrictDecodingRejectsUnknownFields(t *testing.T) {
	// A typo'd field (here readOnlyRootFileSystem with a capital S) is
	// silently dropped by a lenient decoder and by kubectl apply without
	// --validate=strict; the policy would then check a default.
	mem := k8sDiskFS(t)
	path := "/" + k8sDir + "/base/gateway.yaml"
	b, err := mem.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(b), "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1)
	if typo == string(b) {
		t.Fatal("fixture drifted: base/gateway.yaml has no readOnlyRootFilesystem")
	}
	if err := mem.WriteFile(path, []byte(typo)); err != nil {
		t.Fatal(err)
	}
	_, err = k8sBuildFS(mem, "overlays/neon")
	if err == nil || !strings.Contains(err.Error(), "readOnlyRootFileSystem") {
		t.Fatalf("build with a misspelt field: err = %v, want an unknown-field error naming it", err)
	}
}

func TestK8sPolicy(t *testing.T) {
	for _, overlay := range k8sOverlays {
		t.Run(overlay, func(t *testing.T) {
			m := k8sBuild(t, "overlays/"+overlay)
			k8sReport(t, overlay, m.policyProblems())
		})
	}
}

func TestK8sNetworkPolicies(t *testing.T) {
	for _, overlay := range k8sOverlays {
		t.Run(overlay, func(t *testing.T) {
			m := k8sBuild(t, "overlays/"+overlay)
			k8sReport(t, overlay, m.networkProblems())
		})
	}
}

func TestK8sEnvironment(t *testing.T) {
	for _, overlay := range k8sOverlays {
		t.Run(overlay, func(t *testing.T) {
			m := k8sBuild(t, "overlays/"+overlay)
			k8sReport(t, overlay, m.envProblems())
		})
	}
}

// deployment returns the Deployment called name, or nil.
func (m *k8sManifest) deployment(name string) *appsv1.Deployment {
	for _, d := range m.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// job returns the Job called name, or nil.
func (m *k8sManifest) job(name string) *batchv1.Job {
	for _, j := range m.jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// configMap returns the ConfigMap called name (after kustomize's hash
// suffix was applied, so the name is the one pods reference), or nil.
func (m *k8sManifest) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// secret returns the Secret called name, or nil.
func (m *k8sManifest) secret(name string) *corev1.Secret {
	for _, s := range m.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}
