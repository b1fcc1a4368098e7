package specs

import (
	"encoding/json"
	"flag"
	"reflect"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/specs/jsongen"
)

var update = flag.Bool("update", false, "rewrite the generated JSON decoders")

const codecFile = "decode_gen.go"

func codecConfig() jsongen.Config {
	return jsongen.Config{
		Package: "specs", PkgPath: "github.com/berthproject/berth/specs",
		Aliases: map[string]string{"github.com/opencontainers/runtime-spec/specs-go": "rspec"},
		Command: "go test ./specs -run TestCodecCurrent -update",
		Decode: []jsongen.Root{
			{Type: reflect.TypeFor[rspec.Spec](), Func: "decodeSpecFast"},
			{Type: reflect.TypeFor[rspec.Process](), Func: "decodeProcessFast"},
		},
	}
}

// TestCodecCurrent checks that decode_gen.go is what jsongen makes of the
// runtime-spec types this module pins (a new runtime-spec version needs
// -update).
func TestCodecCurrent(t *testing.T) {
	jsongen.CheckFile(t, codecConfig(), codecFile, *update)
}

// sameAsUnmarshal checks the fast decoders against json.Unmarshal: when a
// fast one takes an input, json.Unmarshal must take it too and decode the
// same value. It reports whether the fast path took it.
func sameAsUnmarshal(t *testing.T, data []byte) bool {
	t.Helper()
	var fast, slow rspec.Spec
	okFast := decodeSpecFast(data, &fast)
	errSlow := json.Unmarshal(data, &slow)
	if okFast {
		if errSlow != nil {
			t.Fatalf("fast decoder took %q, json.Unmarshal says %v", data, errSlow)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast decoder and json.Unmarshal differ on %q:\nfast %#v\nslow %#v", data, fast, slow)
		}
	}
	var fp, sp rspec.Process
	if decodeProcessFast(data, &fp) {
		if err := json.Unmarshal(data, &sp); err != nil {
			t.Fatalf("fast process decoder took %q, json.Unmarshal says %v", data, err)
		}
		if !reflect.DeepEqual(fp, sp) {
			t.Fatalf("fast process decoder and json.Unmarshal differ on %q", data)
		}
	}
	return okFast
}

// codecSeeds are real configs (berth spec's, the testdata's) and the edge
// cases the fast path must hand over or agree on.
func codecSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte(`{}`), []byte(`null`), []byte(` {"ociVersion":"1.2.0"} `), []byte(`{"ociVersion":"1.2.0"}{}`),
		[]byte(`{"ociversion":"1.2.0"}`), []byte(`{"OCIVersion":"x","ociVersion":"y"}`), []byte(`{"ociVersion":"a","ociVersion":"b"}`),
		[]byte(`{"process":{"user":{"uid":-1}}}`), []byte(`{"process":{"user":{"uid":1.0}}}`), []byte(`{"process":{"user":{"uid":4294967296}}}`),
		[]byte(`{"process":{"args":[]}}`), []byte(`{"process":{"args":null}}`), []byte(`{"process":null}`), []byte(`{"process":{"terminal":null}}`),
		[]byte(`{"annotations":{}}`), []byte(`{"annotations":{"a":"b","a":"c"}}`), []byte(`{"annotations":{"a":1}}`),
		[]byte(`{"x-vendor":{"deep":[1,2,{"a":null}]},"ociVersion":"1"}`), []byte(`{"ociVersion":"\ud800"}`), []byte("{\"ociVersion\":\"\xff\"}"),
		[]byte(`{"linux":{"resources":{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10}]}}}}`),
		[]byte(`{"linux":{"resources":{"memory":{"limit":-1,"swappiness":18446744073709551615}}}}`),
		[]byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]}]}}}`),
		[]byte(`{"windows":{"network":{"networkNamespace":"x"}},"vm":{"hypervisor":{"path":"/x"}}}`),
		[]byte(`{"process":{"user":{"u_id":1}}}`), []byte(`{"process":{"user":{"uıd":1}}}`), []byte(`{"linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}`),
	}
	full := Default()
	full.Linux.Seccomp = DefaultSeccomp()
	full.Annotations = map[string]string{"io.podman": "<&>"}
	return append(seeds, mustJSON(t, Default()), mustJSON(t, DefaultRootless()), mustJSON(t, full))
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFastDecodeAgreesWithUnmarshal(t *testing.T) {
	took := 0
	for _, s := range codecSeeds(t) {
		if sameAsUnmarshal(t, s) {
			took++
		}
	}
	if !decodeSpecFast([]byte(`{}`), &rspec.Spec{}) {
		t.Skip("built without GOEXPERIMENT=jsonv2: no generated decoders")
	}
	// The default config must take the fast path, or it saves nothing.
	full := Default()
	full.Linux.Seccomp = DefaultSeccomp()
	if !sameAsUnmarshal(t, mustJSON(t, full)) {
		t.Errorf("the fast decoder handed berth spec's config to json.Unmarshal")
	}
	t.Logf("fast path took %d of %d seeds", took, len(codecSeeds(t)))
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range codecSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameAsUnmarshal(t, data) })
}
