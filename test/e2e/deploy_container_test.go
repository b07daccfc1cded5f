package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// podmanStore runs podman and buildah on a storage of the test's own (vfs,
// which works wherever overlay does not, e.g. on an overlay root), so the
// test neither needs nor touches the host's image store.
type podmanStore struct {
	root, runroot string
	runtime       string
}

func (s podmanStore) args(cmd string) []string {
	a := []string{"--root", s.root, "--runroot", s.runroot, "--storage-driver", "vfs"}
	if cmd == "podman" {
		// runc: crun (podman's default) refuses hosts with hybrid cgroups.
		a = append(a, "--runtime", s.runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file")
	}
	return a
}

func (s podmanStore) command(name string, args ...string) *exec.Cmd {
	return exec.Command(name, append(s.args(name), args...)...)
}

func (s podmanStore) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := s.command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildImage builds packaging/container/Containerfile offline (FROM scratch)
// from freshly built static binaries and returns the image's name.
func buildImage(t *testing.T, s podmanStore) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", ctx+"/", "./cmd/xvrrpd", "./cmd/xvrrpctl")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	image := "localhost/" + lab.UniqueName("xvrrp-e2e-") + ":test"
	s.run(t, "buildah", "bud", "--layers=false", "--pull=never", "-f", filepath.Join(root, "packaging/container/Containerfile"), "-t", image, ctx)
	return image
}

// The image of packaging/container runs in a lab host's namespace with
// exactly the capabilities xvrrpd needs, bpffs and the configuration
// mounted, becomes master beside a host xvrrpd, answers xvrrpctl through the
// mounted socket, and on `podman stop` hands the VIP over (RFC 5798 §6.4.3
// priority 0) and exits 0.
func TestContainerImageFailover(t *testing.T) {
	lab.RequirePrivileged(t)
	for _, tool := range []string{"podman", "buildah", "runc"} {
		lab.RequireTool(t, tool)
	}
	store := podmanStore{root: t.TempDir(), runroot: t.TempDir(), runtime: lab.RequireTool(t, "runc")}
	image := buildImage(t, store)

	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	a := inst{name: "VI_1", vrid: 61, prio: 150, vips: []string{"198.18.0.161/24"}}
	b := inst{name: "VI_1", vrid: 61, prio: 100, vips: []string{"198.18.0.161/24"}}

	dir := nodeDir(t, h1)
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(confOf(a)), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := lab.UniqueName("xvrrp-ctr-")
	// podman's default rlimits (nofile, nproc) exceed what this lab's
	// runtime may set; the test's own nofile is allowed, and nproc does not
	// bind uid 0 in the initial user namespace (kernel/fork.c), so any value
	// the runtime accepts will do.
	var nofile syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	args := []string{"run", "--rm", "--name", name, "--pull=never",
		"--network", "ns:/run/netns/" + h1.Name,
		"--cap-drop=all", "--cap-add=BPF,PERFMON,NET_ADMIN,NET_RAW",
		// Debian 12's podman seccomp profile allows bpf(2) only with
		// CAP_SYS_ADMIN, older than CAP_BPF (docs/install.md).
		"--security-opt", "seccomp=unconfined",
		"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Max),
		"--ulimit", "nproc=4096:4096",
		"-v", "/sys/fs/bpf:/sys/fs/bpf",
		"-v", conf + ":/etc/keepalived/keepalived.conf:ro",
		"-v", runDir + ":/run/xvrrp",
		image,
		// The image's CMD is -f /etc/keepalived/keepalived.conf; the rest
		// keeps several lab daemons apart on one host.
		"-f", "/etc/keepalived/keepalived.conf", "-D",
		"--pin-dir", "/sys/fs/bpf/xvrrp-" + h1.Name, "--pid-file", "", "--metrics-address", "",
		"--ready-file", "/run/xvrrp/ready"}
	logPath := filepath.Join(dir, "podman.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctr := store.command("podman", args...)
	ctr.Stdout, ctr.Stderr = logf, logf
	if err := ctr.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- ctr.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = store.command("podman", "rm", "-f", "-t", "0", name).Run()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = ctr.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- container log ----\n%s", b)
		}
	})
	err = lab.Eventually(60*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(runDir, "ready")); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			exited <- err
			b, _ := os.ReadFile(logPath)
			t.Fatalf("container exited before ready: %v\n%s", err, b)
		default:
		}
		return fmt.Errorf("container not ready")
	})
	if err != nil {
		t.Fatal(err)
	}
	startXvrrpd(t, h2, confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, h1, "198.18.0.161", 15*time.Second)

	// xvrrpctl on the host reads the containerised daemon's status.
	ctl := &node{t: t, host: h1, dir: runDir}
	if st := ctl.instance("VI_1"); st.State != "MASTER" || st.BasePriority != 150 {
		t.Fatalf("container's VI_1: %s priority %d, want MASTER 150", st.State, st.BasePriority)
	}

	store.run(t, "podman", "stop", "-t", "10", name)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("podman run after stop: %v (want exit 0)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("container did not exit after podman stop")
	}
	waitHolder(t, lan.Hosts, h2, "198.18.0.161", 10*time.Second)
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "MASTER → STOP: shutdown") {
		t.Errorf("container log has no shutdown transition:\n%s", log)
	}
}
