package scale_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// TestDecodeMetadataFixtures decodes every recorded metadata with every
// byte consumed, and checks what the fixtures README says of them.
func TestDecodeMetadataFixtures(t *testing.T) {
	cases := []struct {
		file       string
		version    int
		extensions int
		versions   []uint8
	}{
		{"metadata_v14.txt", 14, 11, []uint8{4}},
		{"metadata_v15_at_version.txt", 15, 11, []uint8{4}},
		{"one-covenant_finney.scale", 16, 12, []uint8{4, 5}},
		{"CortexLM_finney.scale", 16, 13, []uint8{4, 5}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := scaletest.MetadataBytes(t, c.file)
			md, err := scale.DecodeMetadata(raw)
			require.NoError(t, err)
			assert.Equal(t, c.version, md.Version)
			assert.Greater(t, md.Types.Len(), 500)
			assert.Equal(t, c.versions, md.Extrinsic.Versions)
			assert.Len(t, md.Extrinsic.Extensions, c.extensions)
			assert.True(t, md.ExtrinsicVersion4())

			// Every byte is consumed: one byte more or less is an error.
			_, err = scale.DecodeMetadata(append(append([]byte(nil), raw...), 0))
			assert.ErrorIs(t, err, scale.ErrDecode, "trailing byte")
			_, err = scale.DecodeMetadata(raw[:len(raw)-1])
			assert.ErrorIs(t, err, scale.ErrDecode, "truncated")

			for name, index := range map[string]uint8{"System": 0, "SubtensorModule": 7, "Commitments": 18} {
				p, err := md.Pallet(name)
				require.NoError(t, err)
				assert.Equal(t, index, p.Index, name)
			}
			for call, index := range map[string]uint8{"set_weights": 0, "commit_weights": 96, "reveal_weights": 97} {
				_, v, err := md.Call("SubtensorModule", call)
				require.NoError(t, err)
				assert.Equal(t, index, v.Index, call)
			}
			_, v, err := md.Call("Commitments", "set_commitment")
			require.NoError(t, err)
			assert.Equal(t, uint8(0), v.Index)
			assert.True(t, md.HasTimelockedCommits())

			ids := []string{}
			for _, x := range md.Extrinsic.Extensions {
				ids = append(ids, x.Identifier)
			}
			assert.Equal(t, "CheckNonZeroSender", ids[0])
			assert.Equal(t, "CheckMetadataHash", ids[len(ids)-1])
			assert.Contains(t, ids, "CheckMortality")
			assert.Contains(t, ids, "ChargeTransactionPayment")

			if c.version >= 15 {
				m, err := md.RuntimeAPIMethod("NeuronInfoRuntimeApi", "get_neurons_lite")
				require.NoError(t, err)
				assert.Equal(t, "Vec<NeuronInfoLite<AccountId32>>", md.Types.Describe(m.Output))
			}
			c, err := md.Constant("System", "SS58Prefix")
			require.NoError(t, err)
			prefix, err := md.Types.Decode(c.Type, c.Value)
			require.NoError(t, err)
			assert.Equal(t, uint16(42), prefix)
			ver, err := md.Constant("System", "Version")
			require.NoError(t, err)
			rv, err := md.Types.Decode(ver.Type, ver.Value)
			require.NoError(t, err)
			spec, _ := rv.(scale.Composite).Get("spec_version")
			assert.Greater(t, spec, uint32(300))
		})
	}
}

func TestMetadataSpecVersions(t *testing.T) {
	for file, spec := range map[string]uint32{
		"metadata_v14.txt":            343,
		"metadata_v15_at_version.txt": 343,
		"one-covenant_finney.scale":   365,
		"CortexLM_finney.scale":       393,
	} {
		md := scaletest.Metadata(t, file)
		assert.Equal(t, spec, specVersion(t, md), file)
	}
}

func specVersion(t testing.TB, md *scale.Metadata) uint32 {
	t.Helper()
	c, err := md.Constant("System", "Version")
	require.NoError(t, err)
	v, err := md.Types.Decode(c.Type, c.Value)
	require.NoError(t, err)
	spec, _ := v.(scale.Composite).Get("spec_version")
	return spec.(uint32)
}

func txVersion(t testing.TB, md *scale.Metadata) uint32 {
	t.Helper()
	c, err := md.Constant("System", "Version")
	require.NoError(t, err)
	v, err := md.Types.Decode(c.Type, c.Value)
	require.NoError(t, err)
	tx, _ := v.(scale.Composite).Get("transaction_version")
	return tx.(uint32)
}

func TestUnwrapOpaqueMetadata(t *testing.T) {
	raw, err := scale.DecodeHex(string(scaletest.Read(t, "metadata_v15_at_version.txt")))
	require.NoError(t, err)
	inner, err := scale.UnwrapOpaqueMetadata(raw)
	require.NoError(t, err)
	assert.Equal(t, "meta", string(inner[:4]))
	assert.Equal(t, byte(15), inner[4])

	_, err = scale.UnwrapOpaqueMetadata([]byte{0})
	assert.ErrorIs(t, err, scale.ErrDecode)
	_, err = scale.UnwrapOpaqueMetadata(raw[:len(raw)-1])
	assert.ErrorIs(t, err, scale.ErrDecode)
}

func TestDecodeMetadataRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":      nil,
		"no magic":   []byte("atem\x0e"),
		"version 13": []byte("meta\x0d\x00"),
		"version 17": []byte("meta\x11\x00"),
		"truncated":  []byte("meta\x0e"),
	} {
		_, err := scale.DecodeMetadata(b)
		assert.ErrorIs(t, err, scale.ErrDecode, name)
	}
}

func TestNotFound(t *testing.T) {
	md := scaletest.Metadata(t, "metadata_v14.txt")
	_, err := md.Pallet("Nope")
	assert.True(t, errors.Is(err, scale.ErrNotFound))
	_, _, err = md.Call("SubtensorModule", "nope")
	assert.ErrorIs(t, err, scale.ErrNotFound)
	_, err = md.StorageKey("SubtensorModule", "Nope")
	assert.ErrorIs(t, err, scale.ErrNotFound)
	_, err = md.RuntimeAPIMethod("NeuronInfoRuntimeApi", "get_neurons_lite")
	assert.ErrorIs(t, err, scale.ErrNotFound, "v14 has no runtime APIs")
}
