package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates real cgroups and must run as root")
	}
}

// requireV1 is for tests that read cgroup v1 files; TestV2InUnifiedHierarchy
// covers the same operations on v2.
func requireV1(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if HostMode() == ModeV2 {
		t.Skip("host is cgroup v2: these assertions read v1 files; TestV2InUnifiedHierarchy covers v2")
	}
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// uniqueID is a container id no other test or run uses.
func uniqueID(t *testing.T) string {
	return fmt.Sprintf("bt-%s-%d-%d", strings.ToLower(nonName.ReplaceAllString(t.Name(), "")), os.Getpid(), time.Now().UnixNano()%1e9)
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// v1Dirs lists where a container cgroup at inner would live in each
// hierarchy under /sys/fs/cgroup, found without asking the library.
func v1Dirs(t *testing.T, inner string) []string {
	t.Helper()
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name(), inner))
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no cgroup hierarchies under /sys/fs/cgroup")
	}
	return dirs
}

func assertNoDirs(t *testing.T, dirs []string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup directory %s left behind (stat: %v)", d, err)
		}
	}
}

// shell is a /bin/sh child the test drives line by line: it blocks on
// "read" until the test says go, so the test can move it into a cgroup
// first and only then let it do the work being measured.
type shell struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startShell(t *testing.T, script string, configure func(*exec.Cmd)) *shell {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if configure != nil {
		configure(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := &shell{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(sh.kill)
	return sh
}

func (s *shell) pid() int { return s.cmd.Process.Pid }

func (s *shell) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// expect reads the next output line, failing after a timeout.
func (s *shell) expect(t *testing.T) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		line, _ := s.out.ReadString('\n')
		ch <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ch:
		return line
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the shell's output")
		return ""
	}
}

func (s *shell) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// procState is the one-letter state in /proc/<pid>/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	stat := readTrim(t, fmt.Sprintf("/proc/%d/stat", pid))
	// The command name is in parentheses and may contain spaces.
	fields := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
	return fields[0]
}

// destroyOnCleanup removes m's cgroup after the test's processes are gone
// (cleanups run last-registered first, so register it before starting any).
func destroyOnCleanup(t *testing.T, m *Manager) {
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}
