//go:build !goexperiment.jsonv2

package specs

import rspec "github.com/opencontainers/runtime-spec/specs-go"

// Without GOEXPERIMENT=jsonv2 there is no encoding/json/jsontext for the
// generated decoders (decode_gen.go): json.Unmarshal does all the work.

func decodeSpecFast([]byte, *rspec.Spec) bool       { return false }
func decodeProcessFast([]byte, *rspec.Process) bool { return false }
