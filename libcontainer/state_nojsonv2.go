//go:build !goexperiment.jsonv2

package libcontainer

import "encoding/json"

// Without GOEXPERIMENT=jsonv2 there is no encoding/json/jsontext for the
// generated codec (state_gen.go): encoding/json does all the work.

func decodeStateFast([]byte, *State) bool         { return false }
func decodeStateKeysFast([]byte, *stateKeys) bool { return false }

func appendStateJSON(b []byte, st *State) ([]byte, error) {
	j, err := json.Marshal(st)
	return append(b, j...), err
}
