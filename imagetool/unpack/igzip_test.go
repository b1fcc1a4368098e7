package unpack

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// needIgzip: make deps installs igzip (Debian package isal), and these
// tests are about it, so its absence is a failure, not a skip.
func needIgzip(t *testing.T) string {
	t.Helper()
	p := igzipPath()
	if p == "" {
		t.Fatalf("igzip not found (install the Debian package isal, or unset %s=0)", igzipEnv)
	}
	return p
}

// randomish is compressible but not trivially: text-like bytes.
func randomish(n int) []byte {
	r := rand.New(rand.NewSource(1))
	words := []string{"berth ", "layer ", "tar ", "usr/lib ", "\n", "0123 ", "igzip "}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.Intn(len(words))])
		if r.Intn(50) == 0 {
			b.WriteByte(byte(r.Intn(256)))
		}
	}
	return b.Bytes()[:n]
}

func inflate(t *testing.T, blob []byte) ([]byte, error) {
	t.Helper()
	r, closeFn, err := decompress(bytes.NewReader(blob), MediaTypeTarGzip)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	if _, ok := r.(*igzipReader); !ok {
		t.Fatalf("decompress used %T, not igzip", r)
	}
	return io.ReadAll(r)
}

func TestIgzipInflatesAsTheGoDecoder(t *testing.T) {
	needIgzip(t)
	data := randomish(3 << 20)
	got, err := inflate(t, gzipOf(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("igzip gave %d bytes, want the %d compressed", len(got), len(data))
	}
	// Two gzip members back to back are one stream, as for Go's reader.
	two := append(gzipOf(t, data[:1000]), gzipOf(t, data[1000:5000])...)
	got, err = inflate(t, two)
	if err != nil || !bytes.Equal(got, data[:5000]) {
		t.Fatalf("two members: %d bytes, %v; want %d bytes", len(got), err, 5000)
	}
	zr, err := gzip.NewReader(bytes.NewReader(two))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := io.ReadAll(zr); !bytes.Equal(got, want) {
		t.Fatal("igzip and klauspost/compress differ on two members")
	}
}

func TestIgzipRefusesCorruptAndTruncatedStreams(t *testing.T) {
	needIgzip(t)
	blob := gzipOf(t, randomish(1<<20))
	corrupt := append([]byte(nil), blob...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x5a
	}
	for name, b := range map[string][]byte{
		"corrupt":          corrupt,
		"truncated":        blob[:len(blob)/2],
		"without trailer":  blob[:len(blob)-4],
		"not gzip at all":  []byte(strings.Repeat("plain text, no gzip header\n", 100)),
		"bad crc":          append(append([]byte(nil), blob[:len(blob)-8]...), 0, 0, 0, 0, blob[len(blob)-4], blob[len(blob)-3], blob[len(blob)-2], blob[len(blob)-1]),
		"header only, cut": blob[:10],
	} {
		if _, err := inflate(t, b); err == nil || !strings.Contains(err.Error(), "igzip") {
			t.Errorf("%s: error %v, want igzip's", name, err)
		}
	}
}

type failingReader struct {
	r   io.Reader
	err error
	n   int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// A blob that fails midway (a limit, the network) is reported with its own
// error, not as igzip's complaint about the truncated input it then saw.
func TestIgzipReportsTheBlobsError(t *testing.T) {
	needIgzip(t)
	blob := gzipOf(t, randomish(4<<20))
	cause := errors.New("the download broke")
	r, closeFn, err := decompress(&failingReader{r: bytes.NewReader(blob), err: cause, n: len(blob) / 2}, MediaTypeTarGzip)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, err := io.ReadAll(r); !errors.Is(err, cause) {
		t.Fatalf("error %v, want %v", err, cause)
	}
}

// blockingReader gives its bytes, then blocks until released: a download
// waiting for more.
type blockingReader struct {
	b       []byte
	release chan struct{}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.b) > 0 {
		n := copy(p, r.b)
		r.b = r.b[n:]
		return n, nil
	}
	<-r.release
	return 0, io.ErrUnexpectedEOF
}

// Closing the stream early stops igzip at once, even while its input is
// waiting for bytes, and leaves no process behind.
func TestIgzipClosedEarlyStops(t *testing.T) {
	needIgzip(t)
	blob := gzipOf(t, randomish(8<<20))
	src := &blockingReader{b: blob[:len(blob)/3], release: make(chan struct{})}
	defer close(src.release)
	r, closeFn, err := decompress(src, MediaTypeTarGzip)
	if err != nil {
		t.Fatal(err)
	}
	// (igzip writes its output in large pieces: nothing may come out of
	// a third of the input, so nothing is read here.)
	pid := r.(*igzipReader).cmd.Process.Pid
	done := make(chan struct{})
	go func() { closeFn(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("igzip (pid %d) still exists after Close", pid)
	}
}

// igzip parses registry content in C: under a root berth-image it runs as
// nobody, with an empty environment.
func TestIgzipRunsUnprivileged(t *testing.T) {
	needRoot(t)
	needIgzip(t)
	src := &blockingReader{b: gzipOf(t, randomish(1<<20))[:4096], release: make(chan struct{})}
	defer close(src.release)
	r, closeFn, err := decompress(src, MediaTypeTarGzip)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	// Start returned after the exec: the process is igzip as it runs.
	pid := strconv.Itoa(r.(*igzipReader).cmd.Process.Pid)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "Groups:\t \n", "CapEff:\t0000000000000000"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("igzip's status lacks %q:\n%s", want, status)
		}
	}
	if env, err := os.ReadFile("/proc/" + pid + "/environ"); err != nil || len(env) != 0 {
		t.Errorf("igzip's environment %q (%v), want empty", env, err)
	}
}

func TestIgzipCanBeTurnedOff(t *testing.T) {
	t.Setenv(igzipEnv, "0")
	blob := gzipOf(t, []byte("hello"))
	r, closeFn, err := decompress(bytes.NewReader(blob), MediaTypeTarGzip)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, ok := r.(*igzipReader); ok {
		t.Fatalf("%s=0 still used igzip", igzipEnv)
	}
	if b, err := io.ReadAll(r); err != nil || string(b) != "hello" {
		t.Fatalf("got %q, %v", b, err)
	}
}
