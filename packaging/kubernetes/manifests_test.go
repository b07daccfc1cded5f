// Package kubernetes checks xvrrp's manifests against the Kubernetes API
// types: every document decodes strictly (an unknown or misspelt field is
// an error, as `kubectl apply --validate=strict` makes it) and says what
// xvrrpd needs. No cluster is available here, so nothing is applied.
package kubernetes

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// documents splits a multi-document YAML file.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// decodeStrict decodes one document into the type its kind names.
func decodeStrict(t *testing.T, doc []byte) any {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		t.Fatal(err)
	}
	var obj any
	switch meta.APIVersion + "/" + meta.Kind {
	case "v1/Pod":
		obj = &corev1.Pod{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "apps/v1/DaemonSet":
		obj = &appsv1.DaemonSet{}
	default:
		t.Fatalf("unexpected kind %s %s", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s/%s: %v", meta.APIVersion, meta.Kind, err)
	}
	return obj
}

// checkPodSpec asserts what xvrrpd needs from any pod that runs it.
func checkPodSpec(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if !spec.HostNetwork {
		t.Error("hostNetwork is false: VRRP runs on the node's interfaces")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: the capabilities below are enough")
	}
	var add []string
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	slices.Sort(add)
	if want := []string{"BPF", "NET_ADMIN", "NET_RAW", "PERFMON"}; !slices.Equal(add, want) {
		t.Errorf("capabilities add %v, want %v", add, want)
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("capabilities drop %v, want [ALL]", sc.Capabilities.Drop)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		if _, ok := vols[m.Name]; !ok {
			t.Errorf("volumeMount %s has no volume", m.Name)
		}
	}
	var bpffs bool
	for name, m := range mounts {
		if m.MountPath == "/sys/fs/bpf" {
			v := vols[name]
			bpffs = v.HostPath != nil && v.HostPath.Path == "/sys/fs/bpf" && !m.ReadOnly
		}
	}
	if !bpffs {
		t.Error("the node's /sys/fs/bpf is not mounted read-write at /sys/fs/bpf")
	}
	var conf bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/keepalived/keepalived.conf" || m.MountPath == "/etc/keepalived" {
			conf = m.ReadOnly
		}
	}
	if !conf || !slices.Contains(c.Args, "/etc/keepalived/keepalived.conf") {
		t.Errorf("keepalived.conf not mounted read-only at /etc/keepalived and passed with -f (args %v)", c.Args)
	}
	return c
}

// The kubeadm HA guide's shape: a static Pod in kube-system on the host
// network, its keepalived.conf from the node's /etc/keepalived.
func TestStaticPodManifest_KubeadmHA(t *testing.T) {
	docs := documents(t, "static-pod.yaml")
	if len(docs) != 1 {
		t.Fatalf("%d documents, want one Pod", len(docs))
	}
	pod, ok := decodeStrict(t, docs[0]).(*corev1.Pod)
	if !ok {
		t.Fatal("static-pod.yaml is not a Pod")
	}
	if pod.Namespace != "kube-system" || pod.Spec.PriorityClassName != "system-node-critical" {
		t.Errorf("namespace %q priorityClass %q", pod.Namespace, pod.Spec.PriorityClassName)
	}
	checkPodSpec(t, pod.Spec)
	for _, v := range pod.Spec.Volumes {
		if v.Name == "config" && (v.HostPath == nil || v.HostPath.Path != "/etc/keepalived/keepalived.conf") {
			t.Errorf("config volume %+v, want the node's /etc/keepalived/keepalived.conf", v)
		}
	}
}

// The DaemonSet: configuration from the ConfigMap beside it (which xvrrpd
// -t accepts), probes on /healthz and scrape annotations on the port the
// metrics listener is given.
func TestDaemonSetManifest(t *testing.T) {
	var cm *corev1.ConfigMap
	var ds *appsv1.DaemonSet
	for _, d := range documents(t, "daemonset.yaml") {
		switch o := decodeStrict(t, d).(type) {
		case *corev1.ConfigMap:
			cm = o
		case *appsv1.DaemonSet:
			ds = o
		}
	}
	if cm == nil || ds == nil {
		t.Fatal("daemonset.yaml needs a ConfigMap and a DaemonSet")
	}
	tmpl := ds.Spec.Template
	if !slices.Equal([]string{"app.kubernetes.io/name"}, keys(ds.Spec.Selector.MatchLabels)) ||
		tmpl.Labels["app.kubernetes.io/name"] != ds.Spec.Selector.MatchLabels["app.kubernetes.io/name"] {
		t.Errorf("selector %v does not match template labels %v", ds.Spec.Selector.MatchLabels, tmpl.Labels)
	}
	c := checkPodSpec(t, tmpl.Spec)
	var cmVol bool
	for _, v := range tmpl.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Name {
			cmVol = true
		}
	}
	if !cmVol {
		t.Errorf("no volume from ConfigMap %s", cm.Name)
	}

	// The metrics listener the args set, the named port, the probes and
	// the annotations agree.
	i := slices.Index(c.Args, "--metrics-address")
	if i < 0 || i+1 >= len(c.Args) || !strings.HasSuffix(c.Args[i+1], ":9650") || strings.HasPrefix(c.Args[i+1], "127.") {
		t.Fatalf("args %v: want --metrics-address on a node address, port 9650", c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 9650 {
		t.Errorf("ports %+v, want metrics 9650", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v, want GET /healthz on port metrics", name, p)
		}
	}
	ann := tmpl.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "9650" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v", ann)
	}

	// The ConfigMap's keepalived.conf is one xvrrpd runs.
	conf, ok := cm.Data["keepalived.conf"]
	if !ok {
		t.Fatal("ConfigMap has no keepalived.conf")
	}
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./cmd/xvrrpd", "-t", "-f", path)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("xvrrpd -t on the ConfigMap's keepalived.conf: %v\n%s", err, out)
	}
}

// Strict decoding is what catches a misspelt field: the same Pod with
// hostNetwork misspelt fails.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	doc := documents(t, "static-pod.yaml")[0]
	bad := bytes.Replace(doc, []byte("hostNetwork:"), []byte("hostNetwrok:"), 1)
	if err := yaml.UnmarshalStrict(bad, &corev1.Pod{}); err == nil || !strings.Contains(err.Error(), "hostNetwrok") {
		t.Fatalf("strict decoding of a misspelt field: %v, want an error naming it", err)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
