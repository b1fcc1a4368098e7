// Package sigrelay catches the signals `berth run` and `berth exec`
// forward to the container's process, as runc forwards every signal it
// gets.
//
// os/signal would do, but subscribing to each signal is a round trip with
// Go's signal thread (a futex wake and two context switches on each side):
// for the 60-odd signals a runtime forwards that was ~300 system calls,
// ~90 context switches and ~2.5 ms of CPU on every run and exec
// (docs/benchmarks.md), more than the rest of berth's signal handling by
// far. Here one C handler, written
// for the purpose, writes the signal's number to a pipe the relay reads,
// and installing it is one sigaction per signal.
//
// The signals Go's runtime needs stay Go's: SIGURG (goroutine preemption),
// SIGPROF, SIGCHLD (never forwarded), glibc's 32 and 33, and the
// synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP), where a
// real fault must reach Go's handler; those five, when someone sends them
// with kill, still reach the relay through os/signal.
package sigrelay

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int relay_fd = -1;

// Async-signal-safe: one write to a non-blocking pipe. A full pipe (64 KiB
// of signals nobody read) drops the signal.
static void relay_handler(int sig) {
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t n = write(relay_fd, &b, 1);
	(void)n;
	errno = saved;
}

// SA_ONSTACK because the handler runs on whatever thread the kernel picks,
// and a goroutine's stack is too small for it: Go gives every thread a
// signal stack (os/signal's rules for non-Go handlers). Returns 0, or the
// signal that could not be caught, with errno set.
static int relay_install(int fd, const int *sigs, int n) {
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = relay_handler;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	relay_fd = fd;
	for (int i = 0; i < n; i++) {
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return sigs[i];
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// goOwned are the signals the C handler leaves to Go's runtime.
var goOwned = map[unix.Signal]bool{
	unix.SIGKILL: true, unix.SIGSTOP: true, // cannot be caught
	unix.SIGURG: true, unix.SIGPROF: true, unix.SIGCHLD: true,
	32: true, 33: true, // glibc's own (thread cancellation, setxid)
	unix.SIGSEGV: true, unix.SIGBUS: true, unix.SIGFPE: true, unix.SIGILL: true, unix.SIGTRAP: true,
}

// faults are the synchronous signals subscribed through os/signal, which
// tells a kill(2) from a real fault.
var faults = []os.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP}

// caught lists the signals the C handler takes: 1..64 but goOwned.
func caught() []C.int {
	var sigs []C.int
	for s := unix.Signal(1); s <= 64; s++ {
		if !goOwned[s] {
			sigs = append(sigs, C.int(s))
		}
	}
	return sigs
}

var once sync.Once

// Catch sends every forwardable signal berth gets to ch from now on. The
// handler is installed before Catch returns; the faults' os/signal
// subscription finishes in the background (a fault sent before it
// completes meets Go's default handling). It may be called once per
// process.
func Catch(ch chan<- os.Signal) error {
	err := fmt.Errorf("sigrelay: Catch called twice")
	once.Do(func() { err = catch(ch) })
	return err
}

func catch(ch chan<- os.Signal) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("signal relay: pipe: %w", err)
	}
	sigs := caught()
	if s, err := C.relay_install(C.int(p[1]), &sigs[0], C.int(len(sigs))); s != 0 {
		return fmt.Errorf("signal relay: catching signal %d: %w", int(s), err)
	}
	// Non-blocking, so the reader parks in Go's poller, not on a thread.
	r := os.NewFile(uintptr(p[0]), "signal relay")
	go func() {
		var buf [64]byte
		for {
			n, err := r.Read(buf[:])
			if err != nil {
				return
			}
			for _, b := range buf[:n] {
				ch <- unix.Signal(b)
			}
		}
	}()
	go signal.Notify(ch, faults...)
	return nil
}
