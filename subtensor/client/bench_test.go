package client_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/client/clienttest"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// recordedResult returns the recorded state_call result of a runtime API
// method (finney netuid 1, 1024 neurons) as SCALE bytes.
func recordedResult(b *testing.B, method string) []byte {
	b.Helper()
	rec, err := clienttest.LoadRecording(filepath.Join(scaletest.Dir(b), "metagraph_seed.json"))
	require.NoError(b, err)
	for _, c := range rec["state_call"] {
		var name string
		require.NoError(b, json.Unmarshal(c.Params[0], &name))
		if name == method {
			var s string
			require.NoError(b, json.Unmarshal(c.Result, &s))
			out, err := scale.DecodeHex(s)
			require.NoError(b, err)
			return out
		}
	}
	b.Fatalf("no recorded %s", method)
	return nil
}

// BenchmarkDecodeSubnetState decodes the recorded get_subnet_state of
// finney netuid 1 (1024 neurons) into neurons: the work of Neurons without
// the network. Bytes/s are of the SCALE result.
func BenchmarkDecodeSubnetState(b *testing.B) {
	md := scaletest.Metadata(b, "metadata_v15_at_version.txt")
	m, err := md.RuntimeAPIMethod("SubnetInfoRuntimeApi", "get_subnet_state")
	require.NoError(b, err)
	raw := recordedResult(b, "SubnetInfoRuntimeApi_get_subnet_state")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := md.Types.Decode(m.Output, raw)
		if err != nil {
			b.Fatal(err)
		}
		ns, err := client.DecodeSubnetState(v)
		if err != nil || len(ns) != 1024 {
			b.Fatal(err, len(ns))
		}
	}
}

// BenchmarkDecodeNeuronsLite is the same for get_neurons_lite, the larger
// answer bittensor's metagraph reads.
func BenchmarkDecodeNeuronsLite(b *testing.B) {
	md := scaletest.Metadata(b, "metadata_v15_at_version.txt")
	m, err := md.RuntimeAPIMethod("NeuronInfoRuntimeApi", "get_neurons_lite")
	require.NoError(b, err)
	raw := recordedResult(b, "NeuronInfoRuntimeApi_get_neurons_lite")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := md.Types.Decode(m.Output, raw)
		if err != nil {
			b.Fatal(err)
		}
		ns, err := client.DecodeNeuronsLite(v)
		if err != nil || len(ns) != 1024 {
			b.Fatal(err, len(ns))
		}
	}
}

// BenchmarkNeuronsReplay is Neurons end to end on the loopback replay
// server: block hash, runtime version, get_subnet_state over the websocket
// (JSON, hex), decoding. Compare with BenchmarkDecodeSubnetState for the
// cost of the round trips.
func BenchmarkNeuronsReplay(b *testing.B) {
	_, c := dialReplay(b)
	b.SetBytes(int64(len(recordedResult(b, "SubnetInfoRuntimeApi_get_subnet_state"))))
	b.ReportAllocs()
	for b.Loop() {
		ns, err := c.Neurons(b.Context(), 1, recordedBlock)
		if err != nil || len(ns) != 1024 {
			b.Fatal(err, len(ns))
		}
	}
}
