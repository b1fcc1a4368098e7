package engines_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// scenario is one engine command that runs a container to completion. It
// runs on each runtime: the reference's result must pass check, and the
// runtime under test must reproduce the reference's exit status and output
// exactly. Comparing with runc, rather than with literals, keeps host
// details (capability sets, device lists, mount options) out of the test.
type scenario struct {
	name  string
	run   func(t *testing.T, rt *runtimeUnderTest) (res command, id string)
	check func(res command) error // what the reference must show (nil: exit 0)
	// runcGap, if set, says why runc 1.1.5 cannot pass check (a feature it
	// predates): its result is then only logged, and the runtime under test
	// is held to check alone.
	runcGap string
}

// runScenarios runs each scenario as TestX/<scenario>/<runtime>, checking
// afterwards that every runtime call succeeded and nothing was left.
func runScenarios(t *testing.T, scenarios []scenario, places func(rt *runtimeUnderTest) leftoverPlaces) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var reference *command
			eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
				res, id := sc.run(t, rt)
				check := sc.check
				if check == nil {
					check = exitZero
				}
				err := check(res)
				isReference := rt.bin == referenceRunc
				switch {
				case err != nil && isReference && sc.runcGap != "":
					t.Logf("runc 1.1.5 fails this as expected (%s): %v", sc.runcGap, err)
				case err != nil:
					t.Errorf("%v:\n%s%s", err, res, rt.callReport(t, id))
				}
				if isReference {
					if sc.runcGap == "" {
						reference = &res
					}
				} else if reference != nil && (res.exit != reference.exit || res.stdout != reference.stdout) {
					t.Errorf("%s differs from runc:\n  runc:  exit %d, stdout %q\n  %s: exit %d, stdout %q\n%s%s",
						rt.name, reference.exit, reference.stdout, rt.name, res.exit, res.stdout, res, rt.callReport(t, id))
				}
				assertCleanFlow(t, rt, id, places(rt))
			})
		})
	}
}

func exitZero(res command) error {
	if res.exit != 0 {
		return fmt.Errorf("exit %d, want 0", res.exit)
	}
	return nil
}

// localhostService serves a file on 127.0.0.1 and fetches it, then
// prints lo's flags (0x9: IFF_UP|IFF_LOOPBACK).
const localhostService = `mkdir /tmp/www && echo served-on-lo >/tmp/www/i && httpd -p 127.0.0.1:8080 -h /tmp/www && ` +
	`wget -qO- http://127.0.0.1:8080/i; cat /sys/class/net/lo/flags`

// wantLines is a check: exit 0 and every line of want in the output.
func wantLines(want ...string) func(command) error {
	return func(res command) error {
		if err := exitZero(res); err != nil {
			return err
		}
		lines := strings.Split(res.stdout, "\n")
		for _, w := range want {
			found := false
			for _, l := range lines {
				if l == w {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("no line %q in the output", w)
			}
		}
		return nil
	}
}

// hostNamespace is the host's namespace link of the given type
// ("net:[4026531840]"), as a process joined to it reads it.
func hostNamespace(t *testing.T, typ string) string {
	t.Helper()
	link, err := os.Readlink("/proc/self/ns/" + typ)
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// securityStatus is a shell command printing a process's capability sets,
// no_new_privs and seccomp mode.
const securityStatus = `grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status`

// mountTable prints the container's mount table without what differs from
// one container to the next (ids, sources, overlay layer paths, order,
// which tmpcopyup changes): mount point, per-mount options, file system type
// and, except for overlay, the super block options. A tmpfs's mode= is left
// out: runtimes may pass it at mount time or chmod afterwards (see the
// tmpfs-modes scenario for the resulting modes). Masked directories are left
// out too: runc mounts their empty read-only tmpfs without nosuid, nodev and
// noexec, a runtime adding them is stricter, not different; the scenarios
// check that they are empty and read-only instead.
const mountTable = `awk '{ for (i = 7; $i != "-"; i++) ; s = $(i+1) == "overlay" ? "" : $(i+3); if ($(i+1) == "tmpfs") gsub(/,mode=[0-7]+/, "", s); print $5, $6, $(i+1), s }' /proc/self/mountinfo |
	grep -vE '^/(proc/acpi|proc/scsi|sys/firmware|sys/dev/block|sys/fs/selinux) ' | sort`

// maskedDirs shows that the masked directories every engine asks for are
// empty and read-only (and ends the script with status 0).
const maskedDirs = `ls -A /sys/firmware | wc -l; touch /sys/firmware/x 2>&1; true`

// execCase is one exec into a running container: its engine flags and
// command, and what the reference's result must show (nil: exit 0).
type execCase struct {
	name  string
	flags []string
	args  []string
	check func(res command) error
}

// execTarget is a running container of one runtime, and how the engine
// execs into it.
type execTarget struct {
	id   string
	exec func(t *testing.T, flags []string, args ...string) command
}

// runExecCases starts one container per runtime and runs every case in it,
// as TestX/<runtime>/<case>; the runtime under test must reproduce the
// reference's exit status and output. start must arrange the container's
// removal; stop removes it at the end of the runtime's subtest, so that its
// calls can be checked.
func runExecCases(t *testing.T, cases []execCase, start func(t *testing.T, rt *runtimeUnderTest) execTarget,
	stop func(t *testing.T, rt *runtimeUnderTest, id string)) {
	reference := map[string]command{}
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		target := start(t, rt)
		for _, ec := range cases {
			t.Run(ec.name, func(t *testing.T) {
				res := target.exec(t, ec.flags, ec.args...)
				check := ec.check
				if check == nil {
					check = exitZero
				}
				if err := check(res); err != nil {
					t.Errorf("%v:\n%s%s", err, res, rt.callReport(t, target.id))
				}
				if rt.bin == referenceRunc {
					reference[ec.name] = res
				} else if ref, ok := reference[ec.name]; ok && (res.exit != ref.exit || res.stdout != ref.stdout) {
					t.Errorf("%s differs from runc:\n  runc:  exit %d, stdout %q\n  %s: exit %d, stdout %q\n%s%s",
						rt.name, ref.exit, ref.stdout, rt.name, res.exit, res.stdout, res, rt.callReport(t, target.id))
				}
			})
		}
		stop(t, rt, target.id)
	})
}

// sameAsInit prints, for each namespace and the cgroup, whether the calling
// process shares it with the container's pid 1.
const sameAsInit = `for n in cgroup ipc mnt net pid user uts; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo "$n shared"; done
	[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo "cgroups shared"; true`

// sharedWithInit is what sameAsInit prints for a process exec'd into the
// container.
var sharedWithInit = []string{"cgroup shared", "ipc shared", "mnt shared", "net shared", "pid shared", "user shared", "uts shared", "cgroups shared"}
