package imagetool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// faultProxy sits between berth-image and the registry and misbehaves in
// the ways the mode says.
type faultProxy struct {
	upstream string
	mode     string
	// seen counts requests per path, so that faults can hit only the first.
	mu   sync.Mutex
	seen map[string]int
	// faults counts injected faults.
	faults atomic.Int64
	// rangeGets counts blob GETs with a Range header; ranges has them.
	rangeGets atomic.Int64
	ranges    []string
	srv       *httptest.Server
	// redirectTo is where mode "redirect" sends blob GETs.
	redirectTo string
	// sent counts the bytes of blob answered in mode "endless".
	sent atomic.Int64
	// inflight counts blob GETs with a Range header under way;
	// maxInflight is the most there were at once.
	inflight, maxInflight atomic.Int64
}

func startFaultProxy(t *testing.T, upstream, mode string) *faultProxy {
	p := &faultProxy{upstream: upstream, mode: mode, seen: map[string]int{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen[r.URL.Path]++
	first := p.seen[r.URL.Path] == 1
	p.mu.Unlock()
	isBlob := strings.Contains(r.URL.Path, "/blobs/sha256:")
	isManifest := strings.Contains(r.URL.Path, "/manifests/")
	if isBlob && r.Header.Get("Range") != "" {
		p.rangeGets.Add(1)
		p.mu.Lock()
		p.ranges = append(p.ranges, r.Header.Get("Range"))
		p.mu.Unlock()
		n := p.inflight.Add(1)
		defer p.inflight.Add(-1)
		for m := p.maxInflight.Load(); n > m && !p.maxInflight.CompareAndSwap(m, n); m = p.maxInflight.Load() {
		}
	}

	switch {
	case p.mode == "503" && first && (isBlob || isManifest):
		p.faults.Add(1)
		http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}`, http.StatusServiceUnavailable)
		return
	case p.mode == "redirect" && isBlob && r.Method == http.MethodGet:
		http.Redirect(w, r, p.redirectTo+r.URL.Path+"?signature=x", http.StatusTemporaryRedirect)
		return
	case p.mode == "expire" && isBlob && first:
		// As if the token expired: challenge again, the way the registry does.
		p.faults.Add(1)
		ping, err := http.Get("http://" + p.upstream + "/v2/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		ping.Body.Close()
		w.Header().Set("WWW-Authenticate", ping.Header.Get("WWW-Authenticate"))
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}`, http.StatusUnauthorized)
		return
	case p.mode == "schema1" && isManifest:
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")
		io.WriteString(w, `{"schemaVersion":1,"name":"x","tag":"v1","fsLayers":[],"history":[]}`)
		return
	case p.mode == "bigmanifest" && isManifest:
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write(bytes.Repeat([]byte(" "), 5<<20))
		return
	}

	req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	if p.mode == "norange" || p.mode == "ignorerange" {
		req.Header.Del("Range")
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	body := io.Reader(resp.Body)
	bigBlob := isBlob && r.Method == http.MethodGet && resp.ContentLength > 10000
	switch {
	case (p.mode == "drop" || p.mode == "norange") && bigBlob && first:
		// Send the headers and half the body, then cut the connection.
		p.faults.Add(1)
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, body, resp.ContentLength/2)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case p.mode == "truncate" && bigBlob:
		// Every answer ends early and cleanly (chunked, no length to check).
		p.faults.Add(1)
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, body, resp.ContentLength/2)
		return
	case p.mode == "badsize" && isManifest:
		// Shrink the first layer's size by one: the blob is then "too big".
		var m map[string]any
		b, _ := io.ReadAll(body)
		json.Unmarshal(b, &m)
		l0 := m["layers"].([]any)[0].(map[string]any)
		l0["size"] = l0["size"].(float64) - 1
		b, _ = json.Marshal(m)
		w.Header().Del("Docker-Content-Digest")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		body = bytes.NewReader(b)
	case p.mode == "badlayertype" && isManifest:
		b, _ := io.ReadAll(body)
		b = bytes.ReplaceAll(b, []byte(`"application/vnd.oci.image.layer.v1.tar+gzip"`), []byte(`"application/x-berth-unknown"`))
		w.Header().Del("Docker-Content-Digest")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		body = bytes.NewReader(b)
	case p.mode == "corruptrange" && resp.StatusCode == http.StatusPartialContent && !strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") && p.faults.CompareAndSwap(0, 1):
		// One range (not the first) arrives with a byte changed.
		b, _ := io.ReadAll(body)
		b[len(b)/2] ^= 0xff
		body = bytes.NewReader(b)
	case p.mode == "truncaterange" && resp.StatusCode == http.StatusPartialContent && !strings.HasPrefix(r.Header.Get("Range"), "bytes=0-"):
		// Every range but the first ends early and cleanly (chunked).
		p.faults.Add(1)
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, body, resp.ContentLength/2)
		return
	case p.mode == "corrupt" && bigBlob:
		p.faults.Add(1)
		b, _ := io.ReadAll(body)
		b[len(b)-1] ^= 0xff
		body = bytes.NewReader(b)
	case p.mode == "endless" && bigBlob:
		// The blob, then zeros for ever (chunked: no length to check),
		// until berth-image hangs up.
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		n, _ := io.Copy(w, body)
		zeros := make([]byte, 64<<10)
		for {
			m, err := w.Write(zeros)
			n += int64(m)
			p.sent.Store(n)
			if err != nil || n > 1<<30 {
				return
			}
		}
	case p.mode == "slow" && bigBlob:
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 4096)
		for {
			n, err := body.Read(buf)
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
			if err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, body)
}

// faultSetup pushes a three-layer image and returns the registry.
func faultSetup(t *testing.T) *harness.Registry {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "v1", busybox(t, harness.Layer{Files: harness.GeneratedFiles("big", 5, 4, 200_000)}))
	l.push(t, reg, "v1", "app:v1")
	return reg
}

func TestPullResumesDroppedConnection(t *testing.T) {
	reg := faultSetup(t)
	for _, mode := range []string{"drop", "norange"} {
		t.Run(mode, func(t *testing.T) {
			p := startFaultProxy(t, reg.Addr, mode)
			st := t.TempDir()
			mustRun(t, nil, "--store", st, "pull", "-q", p.addr()+"/app:v1")
			if p.faults.Load() == 0 {
				t.Fatal("the proxy dropped no connection")
			}
			if mode == "drop" && p.rangeGets.Load() == 0 {
				t.Fatal("no Range request: the download restarted instead of resuming")
			}
			checkStore(t, st)
			if len(listJSON(t, st)) != 1 {
				t.Fatal("image not recorded")
			}
		})
	}
}

func TestPullRetries503(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "503")
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", p.addr()+"/app:v1")
	if p.faults.Load() < 3 {
		t.Fatalf("only %d 503 answers were given", p.faults.Load())
	}
	checkStore(t, st)
}

func TestPullRefusesWrongDigest(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "corrupt")
	st := t.TempDir()
	mustFail(t, nil, []string{"--store", st, "pull", "-q", p.addr() + "/app:v1"}, p.addr()+"/app:v1", "digest mismatch", "sha256:")
	if len(listJSON(t, st)) != 0 {
		t.Fatal("an image with a corrupt blob was recorded")
	}
	checkStore(t, st) // also: no blob with wrong content, no temp file

	// A direct pull afterwards completes the same store.
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/app:v1")
	checkStore(t, st)
}

func TestPullRefusesBadManifests(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "schema1")
	mustFail(t, nil, []string{"--store", t.TempDir(), "pull", "-q", p.addr() + "/app:v1"}, "schema1", "not supported")
	p = startFaultProxy(t, reg.Addr, "bigmanifest")
	mustFail(t, nil, []string{"--store", t.TempDir(), "pull", "-q", p.addr() + "/app:v1"}, "limit")
}

func TestConcurrentPullsShareStore(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	// Two images sharing the busybox layer, each with layers of its own.
	l.image(t, "a", busybox(t, harness.Layer{Files: harness.GeneratedFiles("a", 21, 3, 300_000)}))
	l.image(t, "b", busybox(t, harness.Layer{Files: harness.GeneratedFiles("b", 22, 3, 300_000)}))
	l.push(t, reg, "a", "a:1")
	l.push(t, reg, "b", "b:1")

	for round := 0; round < 3; round++ {
		st := t.TempDir()
		var wg sync.WaitGroup
		var fetched atomic.Int64
		errs := make([]string, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ref := reg.Addr + "/a:1"
				if i%2 == 1 {
					ref = reg.Addr + "/b:1"
				}
				r := runBin(t, nil, "--store", st, "pull", "-q", "--format", "json", ref)
				var res struct{ FetchedBytes int64 }
				if r.err != nil || json.Unmarshal([]byte(r.stdout), &res) != nil {
					errs[i] = fmt.Sprintf("pull %s: %v: %s", ref, r.err, r.stderr)
				}
				fetched.Add(res.FetchedBytes)
			}()
		}
		wg.Wait()
		for _, e := range errs {
			if e != "" {
				t.Fatal(e)
			}
		}
		if n := len(listJSON(t, st)); n != 2 {
			t.Fatalf("round %d: %d images listed, want 2", round, n)
		}
		// Every config and layer was downloaded once, though two pulls
		// wanted each and all four wanted the busybox layer.
		var stored int64
		for _, img := range listJSON(t, st) {
			stored -= (blobSize(t, st, img["digest"].(string)))
		}
		ents, _ := os.ReadDir(filepath.Join(st, "blobs", "sha256"))
		for _, e := range ents {
			stored += (blobSize(t, st, "sha256:"+e.Name()))
		}
		if fetched.Load() != stored {
			t.Fatalf("round %d: racing pulls downloaded %d bytes, the store holds %d bytes of configs and layers", round, fetched.Load(), stored)
		}
		checkStore(t, st)
		if out := mustRun(t, nil, "--store", st, "gc"); !strings.Contains(out, "freed 0 item(s)") {
			t.Fatalf("gc after racing pulls freed something: %s", out)
		}
	}
}

// TestKilledPullResumes kills a pull with SIGKILL mid-download; the next
// run continues from the bytes on disk with a Range request, and the blob
// still verifies (its digest is computed over all of it).
func TestKilledPullResumes(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "slow")
	st := t.TempDir()
	cmd := exec.Command(bin, "--store", st, "pull", "-q", p.addr()+"/app:v1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for a download to have 40 kB on disk, then kill the pull.
	partial, size := "", int64(0)
	for deadline := time.Now().Add(20 * time.Second); size < 40_000; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the pull never got 40 kB into a download")
		}
		ents, _ := os.ReadDir(filepath.Join(st, "tmp"))
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".partial") {
				partial, size = e.Name(), fi.Size()
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(listJSON(t, st)) != 0 {
		t.Fatal("killed pull recorded an image")
	}
	// Every download under way was kept; each resumes where it stopped.
	var want []string
	ents, _ := os.ReadDir(filepath.Join(st, "tmp"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() > 0 {
			want = append(want, fmt.Sprintf("bytes=%d-", fi.Size()))
		}
	}
	if len(want) == 0 {
		t.Fatalf("the partial download %s is gone after the kill", partial)
	}

	again := startFaultProxy(t, reg.Addr, "")
	mustRun(t, nil, "--store", st, "pull", "-q", again.addr()+"/app:v1")
	sort.Strings(want)
	sort.Strings(again.ranges)
	if strings.Join(again.ranges, " ") != strings.Join(want, " ") {
		t.Fatalf("the next pull asked for ranges %v, want %v (the sizes on disk)", again.ranges, want)
	}
	checkStore(t, st)
	if out := mustRun(t, nil, "--store", st, "verify"); strings.Contains(out, "FAILED") {
		t.Fatal(out)
	}
}

func TestPullRefusesTruncatedBlobAndUnknownLayerType(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "truncate")
	st := t.TempDir()
	mustFail(t, nil, []string{"--store", st, "pull", "-q", p.addr() + "/app:v1"}, p.addr()+"/app:v1", "blob sha256:", "truncated")
	checkStore(t, st)
	if len(listJSON(t, st)) != 0 {
		t.Fatal("image with a truncated blob recorded")
	}

	p = startFaultProxy(t, reg.Addr, "badlayertype")
	mustFail(t, nil, []string{"--store", st, "pull", "-q", p.addr() + "/app:v1"}, "unsupported media type", "application/x-berth-unknown")
}

func TestPullDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to mount a small tmpfs")
	}
	reg := faultSetup(t)
	st := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "berth-image-e2e-full", st).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", st).Run() })
	mustFail(t, nil, []string{"--store", st, "pull", "-q", reg.Addr + "/app:v1"}, reg.Addr+"/app:v1", "no space left on device")
	checkStore(t, st)
	if len(listJSON(t, st)) != 0 {
		t.Fatal("image recorded on a full disk")
	}
}

// TestPullCutsOffEndlessBlob: a registry that sends more than a blob's
// descriptor says, without a Content-Length to check first, is cut off:
// nothing past the size is written, the pull fails naming the blob, and
// the download stops soon after the size (the read buffer and the socket's
// queues), not when the disk is full.
func TestPullCutsOffEndlessBlob(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "endless")
	st := t.TempDir()
	mustFail(t, nil, []string{"--store", st, "pull", "-q", p.addr() + "/app:v1"}, "blob sha256:", "more data than the expected")
	if n := p.sent.Load(); n == 0 || n > 64<<20 {
		t.Errorf("the endless blob was read to %d bytes", n)
	}
	checkStore(t, st)
	if len(listJSON(t, st)) != 0 {
		t.Fatal("image with an endless blob recorded")
	}
}

func TestPullRefusesSizeMismatch(t *testing.T) {
	reg := faultSetup(t)
	p := startFaultProxy(t, reg.Addr, "badsize")
	st := t.TempDir()
	mustFail(t, nil, []string{"--store", st, "pull", "-q", p.addr() + "/app:v1"}, "blob sha256:", "size mismatch", "the registry sends")
	checkStore(t, st)
	if len(listJSON(t, st)) != 0 {
		t.Fatal("image with a wrong size recorded")
	}
}

func TestPullFollowsRedirectWithoutLeakingCredentials(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{User: "erin", Password: "pw"})
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "app:v1", "--dest-creds", "erin:pw")

	// The "blob storage" the registry redirects to: it fetches from the
	// registry with its own credentials.
	var served, leaked atomic.Int64
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+reg.Addr+r.URL.Path, nil)
		req.SetBasicAuth("erin", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(storage.Close)
	p := startFaultProxy(t, reg.Addr, "redirect")
	p.redirectTo = storage.URL

	st := t.TempDir()
	mustRun(t, credsEnv(t, p.addr(), "erin", "pw"), "--store", st, "pull", "-q", p.addr()+"/app:v1")
	checkStore(t, st)
	if served.Load() < 3 {
		t.Fatalf("only %d blob requests reached the redirect target", served.Load())
	}
	if leaked.Load() != 0 {
		t.Fatalf("%d requests to the redirect target carried the registry credentials", leaked.Load())
	}
}

// blobSize is the size of blob d in the store at dir.
func blobSize(t *testing.T, dir, d string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
