package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// agentResult is what the test seccomp agent saw.
type agentResult struct {
	state    specs.ContainerProcessState
	syscalls []string
	err      error
}

// runAgent accepts one connection on ln, takes the listener fd and state
// sent by SendListenerFD, and answers n notifications: the first with
// EXDEV, the others by letting the syscall continue.
func runAgent(ln *net.UnixListener, n int) agentResult {
	var res agentResult
	conn, err := ln.AcceptUnix()
	if err != nil {
		res.err = err
		return res
	}
	defer conn.Close()
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4))
	bn, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		res.err = err
		return res
	}
	fd, err := receivedFD(oob[:oobn])
	if err != nil {
		res.err = err
		return res
	}
	defer unix.Close(fd)
	if err := json.Unmarshal(buf[:bn], &res.state); err != nil {
		res.err = fmt.Errorf("decode state %q: %w", buf[:bn], err)
		return res
	}
	for i := range n {
		req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(fd))
		if err != nil {
			res.err = fmt.Errorf("receive notification: %w", err)
			return res
		}
		name, _ := req.Data.Syscall.GetName()
		res.syscalls = append(res.syscalls, name)
		resp := &libseccomp.ScmpNotifResp{ID: req.ID, Flags: libseccomp.NotifRespFlagContinue}
		if i == 0 {
			resp = &libseccomp.ScmpNotifResp{ID: req.ID, Error: int32(unix.EXDEV)}
		}
		if err := libseccomp.NotifRespond(libseccomp.ScmpFd(fd), resp); err != nil {
			res.err = fmt.Errorf("respond to notification: %w", err)
			return res
		}
	}
	return res
}

func receivedFD(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("want one control message, got %d (%v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("want one fd, got %v (%v)", fds, err)
	}
	return fds[0], nil
}

// TestLoadNotify follows the runtime-spec flow: the child (the init) loads
// a profile with SCMP_ACT_NOTIFY and passes the listener fd to the test
// (the runtime), which forwards it with SendListenerFD to an agent that
// answers the child's mkdir calls.
func TestLoadNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	agent := make(chan agentResult, 1)
	go func() { agent <- runAgent(ln, 2) }()

	cfg := allow(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify})
	cfg.ListenerPath = sock
	cfg.ListenerMetadata = "test-metadata"

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	initEnd := os.NewFile(uintptr(pair[1]), "init end")
	defer initEnd.Close()
	defer unix.Close(pair[0])

	denied, continued := filepath.Join(dir, "denied"), filepath.Join(dir, "continued")
	probes := []string{"mkdir:" + denied, "mkdir:" + continued}
	cmd, stdout, stderr := childCmd(t, cfg, append([]string{"probe"}, probes...)...)
	cmd.ExtraFiles = []*os.File{initEnd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	initEnd.Close()
	// A child blocked on a notification nobody answers would hang the test.
	watchdog := time.AfterFunc(time.Minute, func() { cmd.Process.Kill(); ln.Close() })
	defer watchdog.Stop()

	// Runtime side: receive the fd from the init and hand it to the agent.
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(pair[0], make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("receive listener fd from child: %v (stderr: %s)", err, stderr)
	}
	fd, err := receivedFD(oob[:oobn])
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	st := specs.ContainerProcessState{
		Pid:      cmd.Process.Pid,
		Metadata: cfg.ListenerMetadata,
		State:    specs.State{Version: specs.Version, ID: "notify-test", Status: specs.StateCreating, Pid: cmd.Process.Pid, Bundle: dir},
	}
	err = SendListenerFD(sock, fd, st)
	unix.Close(fd)
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}

	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\nstderr: %s", err, stderr)
	}
	res := <-agent
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	wantErrnos(t, probes, parseErrnos(t, stdout.String()), unix.EXDEV, 0)
	if _, err := os.Stat(denied); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after the agent denied it (stat: %v)", denied, err)
	}
	if _, err := os.Stat(continued); err != nil {
		t.Errorf("%s missing after the agent let mkdir continue: %v", continued, err)
	}
	for _, name := range res.syscalls {
		if name != "mkdir" && name != "mkdirat" {
			t.Errorf("agent was notified of %q, want mkdir or mkdirat", name)
		}
	}
	got := res.state
	if got.Version != specs.Version || !slices.Equal(got.Fds, []string{specs.SeccompFdName}) ||
		got.Pid != cmd.Process.Pid || got.Metadata != "test-metadata" || got.State.ID != "notify-test" {
		t.Errorf("agent received state %+v", got)
	}
}

func TestSendListenerFDNoAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	err := SendListenerFD(sock, 0, specs.ContainerProcessState{})
	if err == nil {
		t.Fatal("SendListenerFD to a missing socket succeeded")
	}
	want := "linux.seccomp.listenerPath: connect to seccomp agent: dial unix " + sock + ": connect: no such file or directory"
	if err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}
