package engines_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestCRIPod is the kubelet's flow through containerd's CRI plugin: a pod
// sandbox (the suite's pause image) with a shared pid namespace and the
// host network, two containers in it (resource limits, run-as-user,
// read-only rootfs from the container config), ExecSync, a streaming exec
// with a tty, logs, stats, UpdateContainerResources, Stop and Remove of the
// pod; nothing left.
func TestCRIPod(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		c := cri(t, rt)
		name := ctrID(rt, "pod")
		logs := t.TempDir()
		pod := c.writeConfig(t, "pod", fmt.Sprintf(`{"metadata": {"name": %q, "namespace": "default", "uid": %q, "attempt": 0},
  "log_directory": %q,
  "linux": {"cgroup_parent": "/%s", "security_context": {"namespace_options": {"network": 2, "pid": 0}}}}`, name, name, logs, c.cgroup))
		podID := c.must(t, "runp", pod)
		t.Cleanup(func() {
			c.command("stopp", podID).Run()
			c.command("rmp", "-f", podID).Run()
		})
		container := func(cname, command, extra string) string {
			cfg := c.writeConfig(t, cname, fmt.Sprintf(`{"metadata": {"name": %q}, "image": {"image": %q},
  "command": ["sh", "-c", %q], "log_path": "%s.log",
  "linux": {%s "security_context": {"namespace_options": {"pid": 0}, "run_as_user": {"value": %s}, "readonly_rootfs": true}}}`,
				cname, containerdImage, command, cname, extra, testUID))
			id := c.must(t, "create", podID, cfg, pod)
			c.must(t, "start", id)
			return id
		}
		c1 := container("c1", "echo hello-log; exec sleep 1001",
			`"resources": {"memory_limit_in_bytes": 67108864, "cpu_quota": 50000, "cpu_period": 100000},`)
		c2 := container("c2", "exec sleep 1002", "")

		// ExecSync: the container config's effects, seen inside.
		out := c.must(t, "exec", "-s", c1, "sh", "-c",
			"id -u; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us; touch /x 2>/dev/null || echo read-only")
		if out != testUID+"\n67108864\n50000\nread-only" {
			t.Errorf("ExecSync in c1 shows %q, want uid %s, the 64 MiB and 50ms quota limits, a read-only root%s", out, testUID, rt.callReport(t, c1))
		}
		// The pod's pid namespace is shared: the pause process is pid 1
		// and each container sees the other's process.
		ps := c.must(t, "exec", "-s", c2, "ps", "-o", "pid,args")
		if !strings.Contains(ps, "1 /pause") || !strings.Contains(ps, "sleep 1001") {
			t.Errorf("c2 does not share the pod's pid namespace with the sandbox and c1:\n%s", ps)
		}
		if res := c.crictl(t, "exec", "-s", c1, "sh", "-c", "exit 3"); res.exit == 0 {
			t.Errorf("ExecSync of exit 3 succeeded: %s", res)
		}

		// A streaming exec with a terminal, as kubectl exec -it.
		if code := typeOnTerminal(t, c.command("exec", "-it", c1, "sh", "-c", ttyScript)); code != 0 {
			t.Errorf("crictl exec -it: exit %d", code)
		}

		if logsOut := c.must(t, "logs", c1); !strings.Contains(logsOut, "hello-log") {
			t.Errorf("crictl logs c1: %q", logsOut)
		}
		if stats := c.must(t, "stats", "-o", "json", c1); !strings.Contains(stats, "workingSetBytes") {
			t.Errorf("crictl stats c1: %s", stats)
		}
		c.must(t, "update", "--memory", "134217728", c1)
		if got := c.must(t, "exec", "-s", c1, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); got != "134217728" {
			t.Errorf("memory limit after UpdateContainerResources: %s%s", got, rt.callReport(t, c1))
		}
		rt.wantCall(t, c1, "update", "--resources", "-", c1)

		c.must(t, "stopp", podID)
		c.must(t, "rmp", podID)
		if pods := c.must(t, "pods", "-q"); pods != "" {
			t.Errorf("pods left after rmp: %s", pods)
		}
		for _, id := range []string{podID, c1, c2} {
			rt.wantCall(t, id, "create", "--bundle", "--pid-file", id)
			rt.wantCall(t, id, "delete", id)
			assertCleanFlow(t, rt, id, c.places())
		}
		rt.wantCall(t, c1, "exec", "--process", "--detach", "--pid-file", c1)
		rt.wantCall(t, c1, "kill", "--all", c1, "9")
	})
}
