package libcontainer

import (
	"bytes"
	"encoding/json"
	"flag"
	"reflect"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/specs/jsongen"
)

var updateCodec = flag.Bool("update", false, "rewrite the generated state codec")

const stateCodecFile = "state_gen.go"

// TestStateCodecCurrent checks that state_gen.go is what jsongen makes of
// State (a changed State needs -update).
func TestStateCodecCurrent(t *testing.T) {
	jsongen.CheckFile(t, jsongen.Config{
		Package: "libcontainer", PkgPath: "github.com/berthproject/berth/libcontainer",
		Aliases: map[string]string{"github.com/opencontainers/runtime-spec/specs-go": "specs"},
		Command: "go test ./libcontainer -run TestStateCodecCurrent -update",
		Decode: []jsongen.Root{
			{Type: reflect.TypeFor[State](), Func: "decodeStateFast"},
			{Type: reflect.TypeFor[stateKeys](), Func: "decodeStateKeysFast"},
		},
		Encode: []jsongen.Root{{Type: reflect.TypeFor[State](), Func: "appendStateJSON"}},
	}, stateCodecFile, *updateCodec)
}

// stateCodecAgrees checks the generated codec against encoding/json on
// data: what the fast decoders take, json.Unmarshal takes and decodes the
// same; what the encoder writes of it decodes (by json.Unmarshal) to what
// json.Marshal's output decodes to.
func stateCodecAgrees(t *testing.T, data []byte) {
	t.Helper()
	var fast, slow State
	okFast := decodeStateFast(data, &fast)
	errSlow := json.Unmarshal(data, &slow)
	if okFast {
		if errSlow != nil {
			t.Fatalf("fast decoder took %q, json.Unmarshal says %v", data, errSlow)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast decoder and json.Unmarshal differ on %q:\nfast %#v\nslow %#v", data, fast, slow)
		}
	}
	var fk, sk stateKeys
	if decodeStateKeysFast(data, &fk) {
		if err := json.Unmarshal(data, &sk); err != nil || !reflect.DeepEqual(fk, sk) {
			t.Fatalf("fast key decoder and json.Unmarshal differ on %q (%v)", data, err)
		}
	}
	if errSlow != nil {
		return
	}
	want, errWant := json.Marshal(&slow)
	got, errGot := appendStateJSON([]byte("prefix"), &slow)
	if (errWant == nil) != (errGot == nil) {
		t.Fatalf("encoding %q: json.Marshal says %v, appendStateJSON %v", data, errWant, errGot)
	}
	if errWant != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("appendStateJSON dropped what it appended to")
	}
	var a, b State
	if err := json.Unmarshal(got[len("prefix"):], &a); err != nil {
		t.Fatalf("appendStateJSON wrote %q, which json.Unmarshal refuses: %v", got, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	// The config is compared as JSON: json.Marshal HTML-escapes inside
	// it, appendStateJSON does not.
	if !sameJSON(a.Config, b.Config) {
		t.Fatalf("appendStateJSON and json.Marshal disagree on the config of %q:\n%s\n%s", data, got, want)
	}
	a.Config, b.Config = nil, nil
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("appendStateJSON and json.Marshal disagree on %q:\n%s\n%s", data, got, want)
	}
}

func sameJSON(x, y json.RawMessage) bool {
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	var a, b any
	return json.Unmarshal(x, &a) == nil && json.Unmarshal(y, &b) == nil && reflect.DeepEqual(a, b)
}

func stateCodecSeeds(t testing.TB) [][]byte {
	st := sampleState("c1")
	st.Created = time.Date(2026, 12, 5, 1, 2, 3, 456, time.FixedZone("X", 3600))
	st.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/x", Args: []string{"x", "<&>"}, Env: []string{}, Timeout: new(int)}}}
	st.HostMounts = &HostMounts{Before: 7, Bind: 9}
	st.CgroupPaths = map[string]string{"memory": "/sys/fs/cgroup/memory/x", "": "/u"}
	full, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{full, []byte(`{}`), []byte(`null`), []byte(`{"id":"a","init_pid":0}`), []byte(`{"ID":"a"}`),
		[]byte(`{"config":null}`), []byte(`{"config":{ "a" : [1, 2] }}`), []byte(`{"created":"2026-01-02T03:04:05Z"}`),
		[]byte(`{"created":"yesterday"}`), []byte(`{"hooks":{"prestart":[{"path":"p","timeout":-3}]}}`),
		[]byte(`{"annotations":{"b":"2","a":"1"},"host_mounts":{"before":1}}`), []byte(`{"init_start":18446744073709551615}`),
		[]byte(`{"id":"\u00e9\u2028"}`), []byte(`{"future_field":[{}],"id":"x"}`)}
}

func TestStateCodecAgreesWithEncodingJSON(t *testing.T) {
	seeds := stateCodecSeeds(t)
	for _, s := range seeds {
		stateCodecAgrees(t, s)
	}
	if !decodeStateFast([]byte(`{}`), &State{}) {
		t.Skip("built without GOEXPERIMENT=jsonv2: no generated codec")
	}
	var st State
	if !decodeStateFast(seeds[0], &st) {
		t.Errorf("the fast decoder handed a state berth writes to json.Unmarshal")
	}
}

func FuzzStateCodec(f *testing.F) {
	for _, s := range stateCodecSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { stateCodecAgrees(t, data) })
}
