package engines_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPodmanSpec: podman's config.json for common flags (its default
// seccomp profile and capabilities, a custom seccomp profile, --privileged, --cap-*, no-new-privileges,
// --read-only, --tmpfs, -v, --mount propagation, --device and device rules,
// --uidmap, --hostname, --sysctl, --pid/--ipc/--uts host, --cgroupns, -i,
// --init, --oom-score-adj, --group-add, --umask, --personality, CPU and
// memory limits) has the same effect inside the container on berth as on
// runc.
func TestPodmanSpec(t *testing.T) {
	p := podman(t)
	run := func(flags []string, args ...string) func(t *testing.T, rt *runtimeUnderTest) (command, string) {
		return func(t *testing.T, rt *runtimeUnderTest) (command, string) {
			return p.runOnce(t, rt, flags, args...)
		}
	}
	data := t.TempDir()
	profile := filepath.Join(data, "seccomp.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runScenarios(t, []scenario{
		{name: "default-security", run: run(nil, "sh", "-c", securityStatus),
			check: wantLines("Seccomp:\t2", "NoNewPrivs:\t0")},
		{name: "privileged", run: run([]string{"--privileged"}, "sh", "-c", securityStatus+"; ls /dev"),
			check: wantLines("Seccomp:\t0", "kmsg")},
		{name: "caps-no-new-privileges",
			run: run([]string{"--cap-drop", "all", "--cap-add", "chown,net_raw", "--security-opt", "no-new-privileges"},
				"sh", "-c", securityStatus),
			check: wantLines("CapEff:\t0000000000002001", "CapBnd:\t0000000000002001", "NoNewPrivs:\t1")},
		{name: "mount-table", run: run([]string{"--read-only", "--tmpfs", "/scratch:size=1m", "-v", data + ":/data", "-v", data + ":/ro:ro"},
			"sh", "-c", mountTable+` | grep -E '^(/|/proc|/sys|/sys/fs/cgroup/memory|/dev|/dev/pts|/dev/shm|/dev/mqueue|/run|/tmp|/var/tmp|/etc/hosts|/etc/hostname|/data|/ro|/scratch) ';
				touch /x 2>&1; touch /scratch/x && echo scratch-ok; cat /data/f; touch /ro/x 2>&1;
				echo x 2>&1 >/proc/sys/kernel/domainname; `+maskedDirs),
			check: wantLines("scratch-ok", "from-host", "touch: /ro/x: Read-only file system",
				"0", "touch: /sys/firmware/x: Read-only file system")},
		// A tmpfs keeps the mode of the directory it covers (/tmp is 1777
		// in the image) or, on a directory the runtime creates, the tmpfs
		// default 1777: any user may write there, none may delete another's
		// files.
		{name: "tmpfs-modes", run: run([]string{"--read-only", "--tmpfs", "/scratch", "--user", testUID},
			"sh", "-c", "stat -c '%n %a' /tmp /run /var/tmp /scratch; for d in /tmp /run /var/tmp /scratch; do touch $d/x && echo $d writable; done"),
			check: wantLines("/tmp 1777", "/run 1777", "/var/tmp 1777", "/scratch 1777",
				"/tmp writable", "/run writable", "/var/tmp writable", "/scratch writable")},
		{name: "user-namespace", run: run([]string{"--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"},
			"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/x && echo write-ok"),
			check: wantLines("0", "write-ok")},
		{name: "hostname-sysctl", run: run([]string{"--hostname", "berth-test", "--sysctl", "kernel.msgmax=65536"},
			"sh", "-c", "hostname; cat /proc/sys/kernel/msgmax"),
			check: wantLines("berth-test", "65536")},
		{name: "host-pid-ipc", run: run([]string{"--pid=host", "--ipc=host"}, "sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc"),
			check: wantLines(hostNamespace(t, "pid"), hostNamespace(t, "ipc"))},
		{name: "stdin", run: func(t *testing.T, rt *runtimeUnderTest) (command, string) {
			return p.runOnceStdin(t, rt, "line 1\nline 2\n", []string{"-i"}, "sh", "-c", "cat; echo done")
		}, check: wantLines("line 1", "line 2", "done")},
		{name: "device", run: run([]string{"--device", "/dev/null:/dev/xnull"},
			"sh", "-c", "ls -l /dev/xnull | awk '{print $1, $5, $6}'; echo x >/dev/xnull && echo write-ok"),
			check: wantLines("crw-rw-rw- 1, 3", "write-ok")},
		{name: "cpu-memory", run: run([]string{"--cpus", "0.5", "--cpuset-cpus", "0", "--memory", "64m", "--memory-reservation", "32m"},
			"cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
			"/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes"),
			check: wantLines("50000", "100000", "0", "33554432")},
		{name: "init", run: run([]string{"--init"}, "sh", "-c", `tr '\0' ' ' </proc/1/cmdline; echo`),
			check: wantLines("/run/podman-init -- sh -c tr '\\0' ' ' </proc/1/cmdline; echo ")},
		{name: "cgroupns-private", run: run([]string{"--cgroupns=private", "--memory", "32m"},
			"sh", "-c", "grep -E ':(memory|pids):' /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"),
			check: wantLines(fmt.Sprint(32 << 20))},
		{name: "oom-group-umask", run: run([]string{"--oom-score-adj", "500", "--group-add", "65534", "--umask", "0077", "--user", testUID + ":" + testGID},
			"sh", "-c", "cat /proc/self/oom_score_adj; id -G; umask"),
			check: wantLines("500", testGID+" 65534", "0077")},
		{name: "uts-host", run: run([]string{"--uts=host"}, "readlink", "/proc/self/ns/uts"),
			check: wantLines(hostNamespace(t, "uts"))},
		{name: "propagation", run: run([]string{"--mount", "type=bind,src=" + data + ",dst=/shared,bind-propagation=rshared",
			"--mount", "type=bind,src=" + data + ",dst=/slave,bind-propagation=rslave"},
			"sh", "-c", `awk '$5 == "/shared" || $5 == "/slave" { print $5, $7 }' /proc/self/mountinfo | sed 's/:[0-9]*//g' | sort`),
			check: wantLines("/shared shared", "/slave master")},
		{name: "device-cgroup-rule", run: run([]string{"--device-cgroup-rule", "c 1:3 rwm"},
			"sh", "-c", "mknod /tmp/null c 1 3 && echo x >/tmp/null && echo mknod-ok; mknod /tmp/zero c 1 5 && echo x >/tmp/zero 2>&1; true"),
			check: wantLines("mknod-ok")},
		{name: "net-sysctl", run: run([]string{"--sysctl", "net.ipv4.ping_group_range=0 1000"}, "cat", "/proc/sys/net/ipv4/ping_group_range"),
			check: wantLines("0\t1000")},
		{name: "seccomp-profile", run: run([]string{"--security-opt", "seccomp=" + profile},
			"sh", "-c", securityStatus+"; mkdir /tmp/d 2>&1; touch /tmp/f && echo touch-ok"),
			check: wantLines("Seccomp:\t2", "mkdir: can't create directory '/tmp/d': Permission denied", "touch-ok")},
		{name: "preserve-fds", run: func(t *testing.T, rt *runtimeUnderTest) (command, string) {
			// conmon passes `create --preserve-fds 1`: podman's fd 3 must
			// be the container's fd 3.
			f, err := os.Open(filepath.Join(data, "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cidfile := filepath.Join(t.TempDir(), "cid")
			args := append(append([]string{"run", "--rm", "--cidfile", cidfile}, p.runFlags([]string{"--preserve-fds", "1"})...),
				podmanImage, "sh", "-c", "cat <&3; ls /proc/self/fd | wc -l")
			cmd := p.command(rt, args...)
			cmd.ExtraFiles = []*os.File{f}
			res := runCommand(t, cmd, 60*time.Second)
			id, err := os.ReadFile(cidfile)
			if err != nil {
				t.Fatalf("no --cidfile: %v\n%s", err, res)
			}
			rt.wantCall(t, strings.TrimSpace(string(id)), "create", "--preserve-fds", "1")
			return res, strings.TrimSpace(string(id))
		}, check: wantLines("from-host", "5")},
		{name: "personality", run: run([]string{"--personality", "LINUX32"}, "uname", "-m"),
			check: wantLines("i686"), runcGap: "linux.personality is ignored before runc 1.2"},
		// runc brings lo up in a new network namespace; podman relies
		// on it for --network none (every run here has it).
		{name: "network-none-loopback", run: run(nil, "sh", "-c", localhostService),
			check: wantLines("served-on-lo", "0x9")},
	}, func(*runtimeUnderTest) leftoverPlaces { return p.places() })
}

// TestPodmanExecSpec: podman exec's process JSON (inherited capabilities,
// seccomp and rlimits, --privileged, --user, --workdir, --env) has the same
// effect on berth as on runc, and the process joins all the container's
// namespaces and cgroups.
func TestPodmanExecSpec(t *testing.T) {
	p := podman(t)
	runExecCases(t, []execCase{
		{name: "inherited-security", args: []string{"sh", "-c", securityStatus + "; ulimit -n; ulimit -u"},
			check: wantLines("Seccomp:\t2", "1000", "300")},
		// The exec'd process gets every capability the host allows, and
		// keeps the container's seccomp filter.
		{name: "privileged", flags: []string{"--privileged"}, args: []string{"sh", "-c", securityStatus},
			check: func(res command) error {
				if err := wantLines("Seccomp:\t2")(res); err != nil {
					return err
				}
				if strings.Contains(res.stdout, "CapEff:\t00000000800405fb") {
					return fmt.Errorf("exec --privileged kept podman's default capabilities")
				}
				return nil
			}},
		{name: "user-workdir-env", flags: []string{"--user", testUID + ":" + testGID, "--workdir", "/tmp", "--env", "A=b c"},
			args:  []string{"sh", "-c", `id; pwd; echo "$A"; umask`},
			check: wantLines("uid=1234(berth) gid=1234(berth)", "/tmp", "b c", "0022")},
		{name: "namespaces-cgroups", args: []string{"sh", "-c", sameAsInit}, check: wantLines(sharedWithInit...)},
	}, func(t *testing.T, rt *runtimeUnderTest) execTarget {
		return p.execTarget(t, rt, "--cgroupns=private", "--ulimit", "nofile=1000:1000", "--ulimit", "nproc=300:300")
	}, p.removeTarget)
}

// TestPodmanUserNSExec: exec into a container with its own user namespace
// joins it (and everything else) and is root only inside.
func TestPodmanUserNSExec(t *testing.T) {
	p := podman(t)
	runExecCases(t, []execCase{
		{name: "namespaces-cgroups", args: []string{"sh", "-c", sameAsInit}, check: wantLines(sharedWithInit...)},
		{name: "id-maps", args: []string{"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/x && echo write-ok"},
			check: wantLines("0", "write-ok")},
		{name: "user", flags: []string{"--user", testUID}, args: []string{"sh", "-c", "id -u; touch /x 2>&1; true"},
			check: wantLines(testUID, "touch: /x: Permission denied")},
	}, func(t *testing.T, rt *runtimeUnderTest) execTarget {
		return p.execTarget(t, rt, "--uidmap", "0:200000:65536", "--gidmap", "0:200000:65536")
	}, p.removeTarget)
}

// execTarget starts a detached container with flags, for runExecCases.
func (p *podmanEnv) execTarget(t *testing.T, rt *runtimeUnderTest, flags ...string) execTarget {
	t.Helper()
	id := p.startDetached(t, rt, flags, "sleep", "1000")
	return execTarget{id: id, exec: func(t *testing.T, flags []string, args ...string) command {
		return p.run(t, rt, append(append(append([]string{"exec"}, flags...), id), args...)...)
	}}
}

// removeTarget removes an execTarget's container and checks what is left.
func (p *podmanEnv) removeTarget(t *testing.T, rt *runtimeUnderTest, id string) {
	t.Helper()
	p.remove(t, rt, id)
	assertCleanFlow(t, rt, id, p.places())
}
