package engines_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildah (Debian's 1.28) with --isolation oci --runtime <wrapper>: every
// RUN step of a build and every `buildah run` is one create/start/state/
// delete cycle of the runtime, in the runtime's default --root.

// buildahEnv is a private buildah storage (vfs, so nothing is mounted) for
// one runtime, holding a base image made from the suite's busybox rootfs.
type buildahEnv struct {
	rt   *runtimeUnderTest
	dir  string
	base string
}

func newBuildah(t *testing.T, rt *runtimeUnderTest) *buildahEnv {
	t.Helper()
	b := &buildahEnv{rt: rt, dir: filepath.Join(workDir, "bh-"+rt.name), base: "localhost/berth-busybox-" + rt.name}
	if err := os.MkdirAll(filepath.Join(b.dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.command("rm", "--all").Run()
		b.command("rmi", "--all", "--force").Run()
	})
	// The base image needs no runtime: a scratch container with the
	// rootfs copied in, committed.
	ctr := strings.TrimSpace(b.must(t, "from", "scratch").stdout)
	b.must(t, "copy", ctr, rootfs, "/")
	b.must(t, "config", "--cmd", "sh", "--env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", ctr)
	b.must(t, "commit", "--quiet", ctr, b.base)
	b.must(t, "rm", ctr)
	return b
}

func (b *buildahEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command("buildah", append([]string{"--root", filepath.Join(b.dir, "root"), "--runroot", filepath.Join(b.dir, "run"),
		"--storage-driver", "vfs"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(b.dir, "tmp"))
	return cmd
}

func (b *buildahEnv) run(t *testing.T, args ...string) command {
	t.Helper()
	return runCommand(t, b.command(args...), 120*time.Second)
}

func (b *buildahEnv) must(t *testing.T, args ...string) command {
	t.Helper()
	res := b.run(t, args...)
	if res.exit != 0 {
		t.Fatalf("%s%s", res, b.rt.buildahCalls(t))
	}
	return res
}

// runtimeFlags select the runtime under test for a build or a run.
func (b *buildahEnv) runtimeFlags() []string {
	return []string{"--isolation", "oci", "--runtime", b.rt.wrapper}
}

// buildahCalls lists the runtime calls for buildah's containers (their ids
// start with "buildah-"), for failure messages.
func (rt *runtimeUnderTest) buildahCalls(t *testing.T) string {
	t.Helper()
	var s string
	for _, c := range rt.allCalls(t) {
		if strings.Contains(c.args, "buildah-") {
			s += "\n    " + c.String()
		}
	}
	if s == "" {
		return "\n  (" + rt.name + " received no call for a buildah container)"
	}
	return "\n  calls " + rt.name + " received for buildah's containers:" + s
}

func TestBuildahBud(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		b := newBuildah(t, rt)
		ctx := t.TempDir()
		write := func(containerfile string) {
			if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(containerfile), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("several-steps", func(t *testing.T) {
			write("FROM " + b.base + "\nRUN echo one > /one\nRUN sh -c 'echo two $(cat /one) > /two'\nRUN id -u > /uid\nUSER " + testUID + "\nRUN id -u > /tmp/uid2\n")
			b.must(t, append(append([]string{"bud", "--pull-never"}, b.runtimeFlags()...), "-t", "built-"+rt.name, ctx)...)
			ctr := strings.TrimSpace(b.must(t, "from", "--pull-never", "built-"+rt.name).stdout)
			res := b.must(t, append(append([]string{"run"}, b.runtimeFlags()...), ctr, "sh", "-c", "cat /two /uid /tmp/uid2")...)
			if res.stdout != "two one\n0\n"+testUID+"\n" {
				t.Errorf("the built image holds %q, want each RUN step's effect%s", res.stdout, rt.buildahCalls(t))
			}
			for _, shape := range [][]string{{"create", "--bundle", "--pid-file"}, {"start"}, {"state"}, {"delete"}} {
				if !rt.anyCall(t, "buildah-", shape...) {
					t.Errorf("%s never received a call like %q%s", rt.name, strings.Join(shape, " "), rt.buildahCalls(t))
				}
			}
		})
		t.Run("failing-step", func(t *testing.T) {
			write("FROM " + b.base + "\nRUN echo before\nRUN exit 7\nRUN echo never-runs\n")
			res := b.run(t, append(append([]string{"bud", "--pull-never"}, b.runtimeFlags()...), "-t", "bad-"+rt.name, ctx)...)
			out := res.stdout + res.stderr
			if res.exit == 0 || !strings.Contains(out, "exit status 7") || strings.Contains(res.stdout, "never-runs\n") {
				t.Errorf("a failing RUN step must fail the build with its status:\n%s%s", res, rt.buildahCalls(t))
			}
		})
	})
}

func TestBuildahRunVolume(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		// buildah writes mounts[].options ["", "rw", "private", "rbind"]:
		// the empty one is ignored, as runc ignores it.
		b := newBuildah(t, rt)
		vol := t.TempDir()
		if err := os.WriteFile(filepath.Join(vol, "in"), []byte("from-host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ctr := strings.TrimSpace(b.must(t, "from", "--pull-never", b.base).stdout)
		res := b.must(t, append(append([]string{"run"}, b.runtimeFlags()...), "-v", vol+":/v", ctr, "sh", "-c", "cat /v/in; echo back > /v/out")...)
		if res.stdout != "from-host\n" {
			t.Errorf("buildah run -v: %s%s", res, rt.buildahCalls(t))
		}
		if got, err := os.ReadFile(filepath.Join(vol, "out")); err != nil || string(got) != "back\n" {
			t.Errorf("the container's write to the volume: %q, %v", got, err)
		}
	})
}
