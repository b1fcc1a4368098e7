package unpack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// gzip layers are inflated by ISA-L's igzip when it is installed (Debian
// package isal), the way containerd uses unpigz: on the dev VM it inflates
// at ~2.6x the rate of klauspost/compress (0.19 s against 0.50 s for a
// 91 MB layer), and inflating is about half of a cold bundle's CPU. The
// compressed bytes go to its stdin from a goroutine, what it writes to
// stdout is the layer's tar stream; its exit status is checked at the end
// of the stream, so a corrupt or truncated layer fails as it does with the
// Go decoder. It runs with an empty environment, only the two pipes and,
// when berth-image is root, as nobody: it parses registry content in C.
//
// BERTH_IMAGE_IGZIP=0 turns it off (klauspost/compress then does it all).
const igzipEnv = "BERTH_IMAGE_IGZIP"

// nobody is the uid and gid igzip runs as under a root berth-image.
const nobody = 65534

var igzipBinary = sync.OnceValue(func() string {
	p, err := exec.LookPath("igzip")
	if err != nil {
		return ""
	}
	return p
})

// igzipPath is the igzip to inflate gzip layers with, "" for none.
func igzipPath() string {
	if v := os.Getenv(igzipEnv); v == "0" || v == "false" {
		return ""
	}
	return igzipBinary()
}

// igzipReader is igzip's output; Read returns its error, if any, after the
// last byte instead of io.EOF.
type igzipReader struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *bytes.Buffer
	fed    chan error // the feeding goroutine's result
	err    error      // sticky, once the stream ended
	closed bool
}

// newIgzipReader starts igzip on r. When it cannot start (a user namespace
// without nobody, say), nothing of r has been read.
func newIgzipReader(r io.Reader, path string) (*igzipReader, error) {
	cmd := exec.Command(path, "-d", "-c")
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("gzip (igzip): %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("gzip (igzip): %w", err)
	}
	// stderr is for the error message only: bounded.
	stderr := &bytes.Buffer{}
	cmd.Stderr = &limitedWriter{w: stderr, n: 4 << 10}
	if err := cmd.Start(); err != nil {
		in.Close()
		out.Close()
		return nil, fmt.Errorf("gzip (igzip %s): %w", path, err)
	}
	z := &igzipReader{cmd: cmd, out: out, stderr: stderr, fed: make(chan error, 1)}
	go func() {
		_, err := io.Copy(in, r)
		// Sent before stdin closes, so it is there when igzip, seeing the
		// end of its input, exits.
		z.fed <- err
		in.Close()
	}()
	return z, nil
}

func (z *igzipReader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n, err := z.out.Read(p)
	if err == io.EOF {
		z.err = z.finish()
		return n, z.err
	}
	if err != nil {
		z.err = fmt.Errorf("gzip (igzip): %w", err)
		z.Close()
		return n, z.err
	}
	return n, nil
}

// finish waits for igzip and says how the stream ended: io.EOF when igzip
// and the feeder both did their part.
func (z *igzipReader) finish() error {
	z.closed = true
	werr := z.cmd.Wait() // closes both pipes: a feeder blocked on stdin returns
	if werr != nil {
		// A blob that could not be read (a limit, the digest, the
		// network) ended igzip's input early: that is the cause.
		select {
		case ferr := <-z.fed:
			if ferr != nil && !feederCutOff(ferr) {
				return ferr
			}
		default:
		}
		msg := strings.TrimSpace(z.stderr.String())
		if msg == "" {
			msg = werr.Error()
		}
		return fmt.Errorf("gzip (igzip): %s", msg)
	}
	// igzip read a whole gzip stream; the feeder ends once the blob does
	// (bytes after the stream meet a closed pipe).
	if ferr := <-z.fed; ferr != nil && !feederCutOff(ferr) {
		return ferr
	}
	return io.EOF
}

// feederCutOff: the feeder's write failed because igzip was done reading.
func feederCutOff(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

// Close stops igzip if the stream was not read to its end. It does not
// wait for the feeder, which may be waiting for a download's next bytes;
// the blob's own Close ends that read.
func (z *igzipReader) Close() {
	if !z.closed {
		z.closed = true
		z.cmd.Process.Kill()
		z.cmd.Wait()
	}
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
