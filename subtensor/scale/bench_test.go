package scale_test

import (
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// BenchmarkDecodeMetadata decodes each recorded metadata (bytes/s is the
// metadata size over the decode time).
func BenchmarkDecodeMetadata(b *testing.B) {
	for _, file := range scaletest.MetadataFiles {
		raw := scaletest.MetadataBytes(b, file)
		b.Run(file, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scale.DecodeMetadata(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignExtrinsic builds and signs set_weights for 256 uids (the
// payload is over 256 bytes, so it is hashed) with the spec-393 metadata;
// the sr25519 signature dominates.
func BenchmarkSignExtrinsic(b *testing.B) {
	md := scaletest.Metadata(b, "CortexLM_finney.scale")
	key, err := bistro.KeypairFromURI("//Alice")
	if err != nil {
		b.Fatal(err)
	}
	p := txParams(b, md)
	uids := make([]uint16, 256)
	for i := range uids {
		uids[i] = uint16(i)
	}
	for _, n := range []int{8, 256} {
		b.Run(map[int]string{8: "set_weights-8", 256: "set_weights-256"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				call, err := md.SetWeightsCall(1, uids[:n], uids[:n], 1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := md.SignExtrinsic(call, key, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The baseline: one sr25519 signature of a 32-byte hashed payload.
	b.Run("sr25519-sign-baseline", func(b *testing.B) {
		msg := make([]byte, 32)
		for b.Loop() {
			if _, err := key.Sign(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-only-256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			call, err := md.SetWeightsCall(1, uids, uids, 1)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := md.SigningPayload(call, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeNeurons decodes the recorded get_neurons_lite result of
// finney netuid 1 (1024 neurons).
func BenchmarkDecodeNeurons(b *testing.B) {
	md := scaletest.Metadata(b, "metadata_v15_at_version.txt")
	seed := loadSeed(b, "metagraph_seed.json")
	var res []byte
	for _, c := range seed["state_call"] {
		if str(b, c.Params[0]) == "NeuronInfoRuntimeApi_get_neurons_lite" {
			res = hexBytes(b, c.Result)
		}
	}
	m, err := md.RuntimeAPIMethod("NeuronInfoRuntimeApi", "get_neurons_lite")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(res)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := md.Types.Decode(m.Output, res); err != nil {
			b.Fatal(err)
		}
	}
}
