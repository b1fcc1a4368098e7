package harness

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/opencontainers/go-digest"
)

// Raw distribution-API uploads, for tests that must put into a registry
// what no tool would (tampered signatures): a monolithic blob upload and
// a manifest PUT, on a plain-HTTP registry.

var httpClient = &http.Client{Timeout: 30 * time.Second}

// UploadBlob stores b in repo and returns its digest.
func (r *Registry) UploadBlob(repo string, b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	resp, err := httpClient.Post("http://"+r.Addr+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("starting an upload to %s: %s", repo, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	loc = (&url.URL{Scheme: "http", Host: r.Addr}).ResolveReference(loc)
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	return d, r.do(req, http.StatusCreated)
}

// PutManifest stores b as repo:tag with the given media type.
func (r *Registry) PutManifest(repo, tag, mediaType string, b []byte) error {
	req, _ := http.NewRequest(http.MethodPut, "http://"+r.Addr+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(b))
	req.Header.Set("Content-Type", mediaType)
	return r.do(req, http.StatusCreated)
}

// Get fetches a path of the registry API (manifests with every media type
// accepted).
func (r *Registry) Get(path string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.Addr+path, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return b, err
}

func (r *Registry) do(req *http.Request, want int) error {
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, b)
	}
	return nil
}
