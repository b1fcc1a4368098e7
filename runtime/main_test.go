package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthproject/berth/libcontainer"
)

// result is what one runMain call did.
type result struct {
	code           int
	stdout, stderr string
}

// run calls runMain with stdout, stderr and the log captured, then puts
// back the process-wide state it changes.
func run(t *testing.T, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "stdout"))
	errF, _ := os.Create(filepath.Join(dir, "stderr"))
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	logrus.SetOutput(errF)
	defer func() {
		os.Stdout, os.Stderr = oldOut, oldErr
		logrus.SetOutput(oldErr)
		logrus.SetFormatter(&logrus.TextFormatter{})
		logrus.SetLevel(logrus.InfoLevel)
		outF.Close()
		errF.Close()
	}()
	code := runMain(args)
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return result{code, string(out), string(errb)}
}

func (r result) check(t *testing.T, code int, stderrHas string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, stderrHas) {
		t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, code, stderrHas)
	}
}

func TestGlobalUsageErrorsExit2(t *testing.T) {
	r := run(t)
	if r.code != 0 || !strings.Contains(r.stdout, "USAGE:\n   berth [global options] command [command options] [arguments...]") {
		t.Errorf("no command: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, "--bogus", "list")
	r.check(t, 2, "berth: flag provided but not defined: -bogus\n")
	if !strings.Contains(r.stderr, "USAGE:") {
		t.Errorf("a bad global flag shows no usage: %q", r.stderr)
	}
	run(t, "--rootless", "maybe", "list").check(t, 2, `berth: --rootless "maybe": must be auto, true or false`)
	run(t, "--root").check(t, 2, "flag needs an argument: -root")
}

func TestHelpAndVersion(t *testing.T) {
	r := run(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "COMMANDS:") || !strings.Contains(r.stdout, "   create ") || !strings.Contains(r.stdout, "   --root value ") {
		t.Errorf("--help: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, "-v")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "berth version "+version+"\n") || !strings.Contains(r.stdout, "spec: "+specVersion) {
		t.Errorf("-v: exit %d, stdout %q", r.code, r.stdout)
	}
	// A command's --help prints its usage and succeeds.
	for _, args := range [][]string{{"state", "--help"}, {"state", "-h"}, {"help", "state"}, {"h", "state"}} {
		r = run(t, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "NAME:\n   berth state - ") || !strings.Contains(r.stdout, "USAGE:\n   berth state [command options] <container-id>\n") {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	r = run(t, "help", "kill")
	if !strings.Contains(r.stdout, "OPTIONS:\n   --all, -a  ") {
		t.Errorf("help kill: %q", r.stdout)
	}
}

// Errors of a command name it and go to the log (stderr here) with exit 1.
func TestCommandErrors(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"state"}, `state: expects 1 argument(s), got 0`},
		{[]string{"state", "a", "b"}, `state: expects 1 argument(s), got 2: a b (usage: berth state [command options] <container-id>)`},
		{[]string{"kill", "a", "TERM", "c"}, `kill: expects 1 to 2 argument(s), got 3`},
		{[]string{"exec"}, `exec: expects at least 1 argument(s), got 0`},
		{[]string{"list", "x"}, `list: expects 0 argument(s), got 1: x`},
		{[]string{"create", "--bogus", "x"}, `create: flag provided but not defined: -bogus`},
		{[]string{"create", "--preserve-fds", "many", "x"}, `create: invalid value \"many\" for flag -preserve-fds`},
		{[]string{"kill", "x", "SIGFOO"}, `kill: invalid signal \"SIGFOO\"`},
		{[]string{"state", "missing"}, `state: container \"missing\": container does not exist`},
		{[]string{"state", "../x"}, `invalid container id`},
		{[]string{"update", "--memory", "1x", "x"}, `update: --memory \"1x\": not a valid value`},
		{[]string{"update", "x", "--pids-limit", "z"}, `update: --pids-limit \"z\": not a valid value`},
		{[]string{"checkpoint", "x"}, `checkpoint: not supported in this build`},
		{[]string{"restore", "--image-path", "/x", "x"}, `restore: not supported in this build`},
		{[]string{"update", "--resources", "/no/such/file", "x"}, `update: --resources: open /no/such/file: no such file or directory`},
	} {
		args := append([]string{"--root", root}, tc.args...)
		r := run(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "level=error") {
			t.Errorf("berth %q: exit %d, stderr %q; want exit 1 and %q logged", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// An unknown command is answered as runc does, with exit status 3.
	for _, args := range [][]string{{"frob"}, {"help", "frob"}} {
		run(t, append([]string{"--root", root}, args...)...).check(t, 3, "No help topic for 'frob'")
	}
	// A bad --log-format is refused before anything runs.
	run(t, "--log-format", "xml", "list").check(t, 1, `berth: --log-format "xml": must be text or json`)
}

// With --log the error goes to the file in the chosen format, and to stderr.
func TestLogFileJSON(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "berth.log")
	r := run(t, "--root", dir, "--log", logPath, "--log-format", "json", "state", "nope")
	r.check(t, 1, `berth: state: container "nope": container does not exist`)
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var entry map[string]string
	if err := json.Unmarshal(b, &entry); err != nil {
		t.Fatalf("log line %q is not JSON: %v", b, err)
	}
	if entry["level"] != "error" || entry["msg"] != `state: container "nope": container does not exist` {
		t.Fatalf("log entry %v", entry)
	}
	run(t, "--log", filepath.Join(dir, "no", "dir", "log"), "list").check(t, 1, "berth: --log: open ")
}

func TestListEmptyRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not-yet")
	r := run(t, "--root", root, "list")
	if r.code != 0 || strings.Join(strings.Fields(r.stdout), " ") != "ID PID STATUS BUNDLE CREATED OWNER" {
		t.Errorf("list: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, "--root", root, "list", "--format", "json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --format json: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, "--root", root, "list", "-q")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("list -q: exit %d, stdout %q", r.code, r.stdout)
	}
	run(t, "--root", root, "list", "--format", "yaml").check(t, 1, `list: --format \"yaml\": must be table or json`)
}

func TestSpecCommand(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "spec", "--bundle", dir)
	if r.code != 0 {
		t.Fatalf("spec: exit %d, stderr %q", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct{ Args []string }
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.OCIVersion == "" || len(cfg.Process.Args) == 0 {
		t.Fatalf("config.json %s: %v", b, err)
	}
}

func TestFeaturesCommand(t *testing.T) {
	r := run(t, "features")
	var f map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &f) != nil || f["ociVersionMin"] == nil || f["linux"] == nil {
		t.Fatalf("features: exit %d, stdout %q", r.code, r.stdout)
	}
}

// delete --force succeeds for a container that is not there, cleans up a
// state dir a killed create left unreadable, and still refuses a bad id.
func TestDeleteForce(t *testing.T) {
	root := t.TempDir()
	if r := run(t, "--root", root, "delete", "--force", "nope"); r.code != 0 {
		t.Errorf("delete --force of a missing container: exit %d, stderr %q", r.code, r.stderr)
	}
	run(t, "--root", root, "delete", "nope").check(t, 1, `delete: container \"nope\": container does not exist`)
	broken := filepath.Join(root, "broken")
	os.Mkdir(broken, 0o711)
	os.WriteFile(filepath.Join(broken, "state.json"), []byte("{trunc"), 0o600)
	if r := run(t, "--root", root, "delete", "-f", "broken"); r.code != 0 {
		t.Errorf("delete -f of a corrupt state: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(broken); !os.IsNotExist(err) {
		t.Errorf("the broken state dir is still there: %v", err)
	}
	outside := filepath.Join(filepath.Dir(root), "berth-delete-outside-"+filepath.Base(root))
	os.Mkdir(outside, 0o700)
	defer os.RemoveAll(outside)
	run(t, "--root", root, "delete", "--force", "../"+filepath.Base(outside)).check(t, 1, "invalid container id")
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("delete --force with a ../ id removed a directory outside the root: %v", err)
	}
}

// writeState puts a container's state.json under root as create would.
func writeState(t *testing.T, root string, st *libcontainer.State) {
	t.Helper()
	dir := filepath.Join(root, st.ID)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// state, list and kill read a container's saved state; its init is gone.
func TestStateListKillOfStoppedContainer(t *testing.T) {
	root := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	writeState(t, root, &libcontainer.State{
		ID: "gone", Bundle: "/bundles/gone", Rootfs: "/bundles/gone/rootfs", InitPid: dead.Process.Pid, InitStart: 1,
		Created: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC), Owner: "root",
		Annotations: map[string]string{"org.example": "x"},
		Config:      json.RawMessage(`{"ociVersion":"1.2.0","linux":{}}`),
		Version:     "1.2.0",
	})
	r := run(t, "--root", root, "state", "gone")
	var st map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("state: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := map[string]any{"ociVersion": "1.2.0", "id": "gone", "status": "stopped", "bundle": "/bundles/gone",
		"rootfs": "/bundles/gone/rootfs", "created": "2026-05-06T07:08:09Z", "owner": "root",
		"annotations": map[string]any{"org.example": "x"}}
	for k, v := range want {
		if !reflect.DeepEqual(st[k], v) {
			t.Errorf("state %s = %v, want %v", k, st[k], v)
		}
	}
	if pid, ok := st["pid"]; ok && pid != float64(0) {
		t.Errorf("a stopped container shows pid %v", pid)
	}

	r = run(t, "--root", root, "list", "--format", "json")
	var list []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 {
		t.Fatalf("list: exit %d, stdout %q", r.code, r.stdout)
	}
	if list[0]["id"] != "gone" || list[0]["status"] != "stopped" || list[0]["pid"] != float64(0) || list[0]["ociVersion"] != "1.2.0" {
		t.Errorf("list entry %v", list[0])
	}
	if r := run(t, "--root", root, "list", "-q"); r.stdout != "gone\n" {
		t.Errorf("list -q printed %q", r.stdout)
	}
	run(t, "--root", root, "kill", "gone", "KILL").check(t, 1, `kill: container \"gone\" is stopped: only a created or running container can be signalled`)
}
