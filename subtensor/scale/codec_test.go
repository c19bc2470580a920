package scale_test

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

func scaletestMetadata(t testing.TB) *scale.Metadata {
	return scaletest.Metadata(t, "CortexLM_finney.scale")
}

func TestCompact(t *testing.T) {
	for _, c := range []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {1, "04"}, {42, "a8"}, {63, "fc"}, {64, "0101"}, {69, "1501"},
		{16383, "fdff"}, {16384, "02000100"}, {1<<30 - 1, "feffffff"},
		{1 << 30, "0300000040"}, {1<<32 - 1, "03ffffffff"}, {1 << 32, "070000000001"},
		{1<<64 - 1, "13ffffffffffffffff"},
	} {
		got := scale.AppendCompact(nil, c.v)
		assert.Equal(t, c.hex, hex.EncodeToString(got), "encode %d", c.v)
		r := scale.NewReader(got)
		back, err := r.Compact()
		require.NoError(t, err)
		assert.Equal(t, c.v, back)
		require.NoError(t, r.Done())
		b, err := scale.NewReader(got).CompactBig()
		require.NoError(t, err)
		assert.Equal(t, new(big.Int).SetUint64(c.v).String(), b.String())
	}
	// u128::MAX
	max128 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	enc, err := scale.AppendCompactBig(nil, max128)
	require.NoError(t, err)
	assert.Equal(t, "33"+"ffffffffffffffffffffffffffffffff", hex.EncodeToString(enc))
	back, err := scale.NewReader(enc).CompactBig()
	require.NoError(t, err)
	assert.Equal(t, 0, back.Cmp(max128))

	for _, bad := range []string{"", "01", "0100", "02000000", "0300000000", "03ffffff", "13ffffffffffffff"} {
		b, _ := hex.DecodeString(bad)
		_, err := scale.NewReader(b).Compact()
		assert.ErrorIs(t, err, scale.ErrDecode, "compact %q", bad)
	}
}

func TestTwoxAndBlake2(t *testing.T) {
	for in, want := range map[string]string{
		"System":          "26aa394eea5630e07c48ae0c9558cef7",
		"Account":         "b99d880ec681799c0cf30e8886371da9",
		"Events":          "80d41e5e16056765bc8461851072c9d7",
		"SubtensorModule": "658faa385070e074c85bf6b568cf0555",
		"Timestamp":       "f0c365c3cf59d671eb72da0e7a4113c4",
		"Now":             "9f1f0515f462cdcf84e0f1d6045dfcbb",
	} {
		assert.Equal(t, want, hex.EncodeToString(scale.AppendTwox(nil, []byte(in), 2)), in)
	}
	// xxHash64 reference values.
	assert.Equal(t, uint64(0xef46db3751d8e999), scale.XXH64(nil, 0))
	assert.Equal(t, uint64(0xd24ec4f1a98c6e5b), scale.XXH64([]byte("a"), 0))
	long := []byte("Nobody inspects the spammish repetition, a lengthy line of text.")
	assert.Equal(t, scale.XXH64(long, 1), scale.XXH64(append([]byte(nil), long...), 1))

	// Alice's System.Account key: Blake2_128Concat of her account id.
	alice, _ := hex.DecodeString("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	key := scale.Blake2_128Concat.Append(nil, alice)
	assert.Equal(t, "de1e86a9a8c739864cf3cc5ec2bea59f"+hex.EncodeToString(alice), hex.EncodeToString(key))

	h := scale.Blake2b256(nil)
	assert.Equal(t, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8", hex.EncodeToString(h[:]))
	assert.Equal(t, "Twox64Concat", scale.Twox64Concat.String())
}

func TestEra(t *testing.T) {
	for _, c := range []struct {
		current, period uint64
		era             scale.Era
		hex             string
	}{
		{0, 64, scale.Era{Period: 64, Phase: 0}, "0500"},
		{6852690, 64, scale.Era{Period: 64, Phase: 6852690 % 64}, ""},
		{100, 100, scale.Era{Period: 128, Phase: 100}, ""},
		{5000, 4096, scale.Era{Period: 4096, Phase: 904}, ""},
		{70000, 1 << 17, scale.Era{Period: 65536, Phase: 70000 % 65536 / 16 * 16}, ""},
		{7, 1, scale.Era{Period: 4, Phase: 3}, ""},
	} {
		e := scale.MortalEra(c.current, c.period)
		assert.Equal(t, c.era, e, "MortalEra(%d, %d)", c.current, c.period)
		if c.hex != "" {
			assert.Equal(t, c.hex, hex.EncodeToString(e.Bytes()))
		}
		assert.LessOrEqual(t, e.Birth(c.current), c.current)
		assert.Greater(t, e.Death(c.current), c.current)
	}
	// Substrate's own vector: Era::mortal(64, 42) encodes as 0xa5 0x02.
	assert.Equal(t, "a502", hex.EncodeToString(scale.MortalEra(42, 64).Bytes()))
	assert.Equal(t, "00", hex.EncodeToString(scale.Era{}.Bytes()))
	assert.True(t, scale.Era{}.Immortal())
}

// TestEncodeIntegers checks the range of every integer primitive the
// finney registry has, through the fast path (Go integers) and big.Int.
func TestEncodeIntegers(t *testing.T) {
	md := scaletestMetadata(t)
	found := 0
	for _, c := range []struct {
		p        scale.Primitive
		min, max *big.Int
	}{
		{scale.PrimU8, big.NewInt(0), big.NewInt(255)},
		{scale.PrimU16, big.NewInt(0), big.NewInt(65535)},
		{scale.PrimU32, big.NewInt(0), big.NewInt(1<<32 - 1)},
		{scale.PrimU64, big.NewInt(0), new(big.Int).SetUint64(1<<64 - 1)},
		{scale.PrimU128, big.NewInt(0), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))},
		{scale.PrimI8, big.NewInt(-128), big.NewInt(127)},
		{scale.PrimI16, big.NewInt(-32768), big.NewInt(32767)},
		{scale.PrimI32, big.NewInt(-1 << 31), big.NewInt(1<<31 - 1)},
		{scale.PrimI64, big.NewInt(-1 << 63), big.NewInt(1<<63 - 1)},
		{scale.PrimI128, new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 127)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), big.NewInt(1))},
	} {
		id, ok := findPrimitive(md.Types, c.p)
		if !ok {
			continue
		}
		found++
		for _, v := range []*big.Int{c.min, c.max, big.NewInt(0)} {
			enc, err := md.Types.Encode(id, v)
			require.NoError(t, err, "%s %s", c.p, v)
			back, err := md.Types.Decode(id, enc)
			require.NoError(t, err)
			assert.Equal(t, v.String(), fmt.Sprint(back), "%s", c.p)
			if v.IsInt64() {
				enc2, err := md.Types.Encode(id, v.Int64())
				require.NoError(t, err, "%s %d", c.p, v.Int64())
				assert.Equal(t, enc, enc2)
			} else if v.IsUint64() {
				enc2, err := md.Types.Encode(id, v.Uint64())
				require.NoError(t, err)
				assert.Equal(t, enc, enc2)
			}
		}
		for _, v := range []*big.Int{new(big.Int).Sub(c.min, big.NewInt(1)), new(big.Int).Add(c.max, big.NewInt(1))} {
			_, err := md.Types.Encode(id, v)
			assert.ErrorIs(t, err, scale.ErrEncode, "%s %s", c.p, v)
			if v.IsInt64() {
				_, err := md.Types.Encode(id, v.Int64())
				assert.ErrorIs(t, err, scale.ErrEncode, "%s %d", c.p, v.Int64())
			}
		}
	}
	assert.GreaterOrEqual(t, found, 5)
}
