package scale_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// tinyMetadata builds a small but complete RuntimeMetadataPrefixed of
// version v (14, 15 or 16): five types, one pallet with a plain and a map
// storage entry, a call, a constant, one signed extension, and for v15 and
// v16 a runtime API, outer enums and a custom value.
func tinyMetadata(v int) []byte {
	var b []byte
	str := func(s string) { b = scale.AppendByteVec(b, []byte(s)) }
	c := func(n uint64) { b = scale.AppendCompact(b, n) }
	u8 := func(x byte) { b = append(b, x) }
	dep := func() {
		if v >= 16 {
			u8(0) // ItemDeprecationInfo::NotDeprecated
		}
	}
	enumDep := func() {
		if v >= 16 {
			c(0) // EnumDeprecationInfo: no deprecated variants
		}
	}
	b = append(b, "meta"...)
	u8(byte(v))
	// Registry.
	c(5)
	c(0) // u8
	c(0)
	c(0)
	u8(5)
	u8(3)
	c(0)
	c(1) // Vec<u8>
	c(0)
	c(0)
	u8(2)
	c(0)
	c(0)
	c(2) // Call enum
	c(2)
	str("pallet")
	str("Call")
	c(0)
	u8(1)
	c(1)
	str("remark")
	c(1)
	u8(1)
	str("data")
	c(1)
	u8(1)
	str("Vec<u8>")
	c(0)
	u8(0)
	c(1)
	str("Say something.")
	c(0)
	c(3) // UncheckedExtrinsic<Address, Call, Signature, Extra>
	c(1)
	str("UncheckedExtrinsic")
	c(4)
	for _, p := range []struct {
		name string
		id   int
	}{{"Address", 0}, {"Call", 2}, {"Signature", 1}, {"Extra", -1}} {
		str(p.name)
		if p.id < 0 {
			u8(0)
		} else {
			u8(1)
			c(uint64(p.id))
		}
	}
	u8(0)
	c(0)
	c(0)
	c(4) // ()
	c(0)
	c(0)
	u8(4)
	c(0)
	c(0)
	// Pallets.
	c(1)
	str("System")
	u8(1) // storage
	str("System")
	c(2)
	str("Number")
	u8(1)
	u8(0)
	c(0)
	b = scale.AppendByteVec(b, []byte{0})
	c(0)
	dep()
	str("Map")
	u8(0)
	u8(1)
	c(1)
	u8(byte(scale.Twox64Concat))
	c(0)
	c(1)
	b = scale.AppendByteVec(b, nil)
	c(1)
	str("A map.")
	dep()
	u8(1) // calls
	c(2)
	enumDep()
	u8(0) // events
	c(1)  // constants
	str("C")
	c(0)
	b = scale.AppendByteVec(b, []byte{7})
	c(0)
	dep()
	u8(0) // errors
	if v >= 16 {
		c(0) // associated types
		c(0) // view functions
	}
	u8(0) // index
	if v >= 15 {
		c(0) // docs
	}
	dep()
	// Extrinsic.
	switch v {
	case 14:
		c(3)
		u8(4)
	case 15:
		u8(4)
		c(0)
		c(2)
		c(1)
		c(4)
	case 16:
		b = scale.AppendByteVec(b, []byte{4})
		c(0)
		c(2)
		c(1)
		c(1) // by version
		u8(0)
		c(1)
		c(0)
	}
	c(1)
	str("CheckNonZeroSender")
	c(4)
	c(4)
	if v < 16 {
		c(4) // runtime type
	}
	if v >= 15 {
		c(1) // apis
		str("Api")
		c(1)
		str("m")
		c(1)
		str("x")
		c(0)
		c(1)
		c(0)
		dep()
		c(0)
		if v >= 16 {
			c(1)
			dep()
		}
		c(2) // outer enums
		c(2)
		c(2)
		c(1) // custom
		str("k")
		c(0)
		b = scale.AppendByteVec(b, []byte{1})
	}
	return b
}

func TestTinyMetadata(t *testing.T) {
	for _, v := range []int{14, 15, 16} {
		md, err := scale.DecodeMetadata(tinyMetadata(v))
		require.NoError(t, err, "v%d", v)
		assert.Equal(t, v, md.Version)
		assert.True(t, md.HasCall("System", "remark"))
		call, err := md.EncodeCall("System", "remark", map[string]scale.Value{"data": "hi"})
		require.NoError(t, err)
		assert.Equal(t, []byte{0, 0, 8, 'h', 'i'}, call)
		key, err := md.StorageKey("System", "Map", 5)
		require.NoError(t, err)
		assert.Equal(t, 32+8+1, len(key))
		require.Len(t, md.Extrinsic.Extensions, 1)
		if v >= 15 {
			_, err := md.RuntimeAPIMethod("Api", "m")
			require.NoError(t, err)
		}
	}
}

// FuzzDecodeMetadata: decoding arbitrary bytes as metadata never panics,
// and what decodes can be used.
func FuzzDecodeMetadata(f *testing.F) {
	for _, v := range []int{14, 15, 16} {
		f.Add(tinyMetadata(v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := scale.DecodeMetadata(b)
		if err != nil {
			return
		}
		for _, p := range md.Pallets {
			for _, e := range p.Storage {
				_, _ = md.DecodeStorage(p.Name, e.Name, nil)
			}
		}
		_ = md.Types.Describe(md.CallType)
	})
}

// FuzzDecodeValue decodes arbitrary bytes as any type of the finney v15
// registry: it never panics, and whatever decodes encodes back to the same
// bytes.
func FuzzDecodeValue(f *testing.F) {
	md := scaletest.Metadata(f, "metadata_v15_at_version.txt")
	f.Add(uint32(0), bytes.Repeat([]byte{1}, 32))
	f.Fuzz(func(t *testing.T, id uint32, b []byte) {
		id %= uint32(md.Types.Len())
		v, err := md.Types.Decode(scale.TypeID(id), b)
		if err != nil {
			return
		}
		back, err := md.Types.Encode(scale.TypeID(id), v)
		require.NoError(t, err, "type %d %s", id, md.Types.Describe(scale.TypeID(id)))
		require.True(t, bytes.Equal(b, back), "type %d %s: %x encodes back as %x", id, md.Types.Describe(scale.TypeID(id)), b, back)
	})
}

// FuzzDecodeExtrinsic decodes arbitrary bytes as an extrinsic of the finney
// v16 runtime: never a panic; a decoded call decodes again alone.
func FuzzDecodeExtrinsic(f *testing.F) {
	md := scaletest.Metadata(f, "CortexLM_finney.scale")
	f.Add(scale.UnsignedExtrinsic([]byte{0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := md.DecodeExtrinsic(b)
		if err != nil {
			return
		}
		_, err = md.DecodeCall(x.CallBytes)
		require.NoError(t, err)
	})
}
