package scale_test

import (
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

func alice(t testing.TB) *bistro.Keypair {
	t.Helper()
	k, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)
	return k
}

// txParams are the recorded finney values (block 6852690) with the
// metadata's own spec and transaction versions.
func txParams(t testing.TB, md *scale.Metadata) *scale.TxParams {
	t.Helper()
	var genesis, head [32]byte
	g, _ := hex.DecodeString("2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03")
	h, _ := hex.DecodeString("db13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0")
	copy(genesis[:], g)
	copy(head[:], h)
	return &scale.TxParams{
		SpecVersion:  specVersion(t, md),
		TxVersion:    txVersion(t, md),
		GenesisHash:  genesis,
		Era:          scale.MortalEra(6852690, 64),
		EraBlockHash: head,
		Nonce:        17,
		Tip:          1000,
	}
}

func TestCallEncoding(t *testing.T) {
	for _, file := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, file)
		call, err := md.SetWeightsCall(1, []uint16{1, 2}, []uint16{3, 4}, 5)
		require.NoError(t, err)
		assert.Equal(t, "07000100080100020008030004000500000000000000", hex.EncodeToString(call), file)

		c, err := md.DecodeCall(call)
		require.NoError(t, err)
		assert.Equal(t, "SubtensorModule", c.Pallet)
		assert.Equal(t, "set_weights", c.Name)
		dests, _ := c.Args.Get("dests")
		assert.Equal(t, []scale.Value{uint16(1), uint16(2)}, dests)

		var h [32]byte
		h[0] = 0xaa
		call, err = md.CommitWeightsCall(3, h)
		require.NoError(t, err)
		assert.Equal(t, "076003"+"00"+hex.EncodeToString(h[:]), hex.EncodeToString(call))
		call, err = md.RevealWeightsCall(3, []uint16{0}, []uint16{65535}, []uint16{9, 8}, 1)
		require.NoError(t, err)
		assert.Equal(t, "0761"+"0300"+"040000"+"04ffff"+"0809000800"+"0100000000000000", hex.EncodeToString(call))

		_, err = md.SetWeightsCall(1, []uint16{1}, nil, 0)
		assert.ErrorIs(t, err, scale.ErrEncode)
		_, err = md.EncodeCall("SubtensorModule", "set_weights", map[string]scale.Value{"netuid": 1})
		assert.ErrorIs(t, err, scale.ErrEncode)
		_, err = md.EncodeCall("SubtensorModule", "set_weights", map[string]scale.Value{
			"netuid": 70000, "dests": []uint16{}, "weights": []uint16{}, "version_key": 0})
		assert.ErrorIs(t, err, scale.ErrEncode, "netuid does not fit u16")
	}
}

func TestCommitmentCall(t *testing.T) {
	c := &bistro.Commitment{
		Params:   bistro.Hash{1, 2, 3},
		Endpoint: "https://example.r2.cloudflarestorage.com",
		Bucket:   "bistro-miner-1",
		Region:   "auto",
	}
	fields, err := c.Fields()
	require.NoError(t, err)
	info, err := bistro.EncodeCommitmentInfo(fields)
	require.NoError(t, err)
	for _, file := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, file)
		call, err := md.CommitmentCall(5, c)
		require.NoError(t, err)
		// pallet 18, call 0, netuid u16 5, then CommitmentInfo as bistro lays it out.
		assert.Equal(t, append([]byte{18, 0, 5, 0}, info...), call, file)
		dc, err := md.DecodeCall(call)
		require.NoError(t, err)
		assert.Equal(t, "set_commitment", dc.Name)

		// A field of 128 bytes is Data::Raw128 (tag 129); 129 bytes is refused.
		long := make([]byte, bistro.MaxCommitmentField)
		call, err = md.SetCommitmentCall(5, [][]byte{long})
		require.NoError(t, err)
		assert.Equal(t, []byte{18, 0, 5, 0, 4, 129}, call[:6])
		_, err = md.SetCommitmentCall(5, [][]byte{append(long, 0)})
		assert.ErrorIs(t, err, bistro.ErrBadCommitment)
		_, err = md.SetCommitmentCall(5, [][]byte{nil, nil, nil, nil})
		assert.ErrorIs(t, err, bistro.ErrBadCommitment)
	}
}

func TestSignExtrinsic(t *testing.T) {
	key := alice(t)
	for _, file := range scaletest.MetadataFiles {
		t.Run(file, func(t *testing.T) {
			md := scaletest.Metadata(t, file)
			p := txParams(t, md)
			for _, n := range []int{2, 200} { // payloads under and over 256 bytes
				uids := make([]uint16, n)
				weights := make([]uint16, n)
				for i := range uids {
					uids[i], weights[i] = uint16(i), uint16(1000+i)
				}
				call, err := md.SetWeightsCall(1, uids, weights, bistro.ProtocolVersion)
				require.NoError(t, err)
				xt, err := md.SignExtrinsic(call, key, p)
				require.NoError(t, err)

				x, err := md.DecodeExtrinsic(xt)
				require.NoError(t, err)
				assert.True(t, x.Signed)
				assert.Equal(t, uint8(4), x.Version)
				assert.Equal(t, byte(0x84), xt[lenPrefix(xt)])
				assert.True(t, x.HasSigner)
				assert.Equal(t, key.Hotkey(), x.Signer)
				assert.Equal(t, "Sr25519", x.Scheme)
				assert.Len(t, x.Signature, 64)
				assert.Equal(t, p.Era, x.Era)
				assert.Equal(t, uint64(17), x.Nonce)
				assert.Equal(t, "1000", x.Tip.String())
				assert.Equal(t, call, x.CallBytes)
				assert.Equal(t, "set_weights", x.Call.Name)
				assert.Len(t, x.Extensions, len(md.Extrinsic.Extensions))
				require.NoError(t, md.VerifyExtrinsic(x, *p))

				// The signature commits to every implicit input.
				for name, change := range map[string]func(q *scale.TxParams){
					"spec":    func(q *scale.TxParams) { q.SpecVersion++ },
					"tx":      func(q *scale.TxParams) { q.TxVersion++ },
					"genesis": func(q *scale.TxParams) { q.GenesisHash[0] ^= 1 },
					"era":     func(q *scale.TxParams) { q.EraBlockHash[31] ^= 1 },
				} {
					q := *p
					change(&q)
					assert.ErrorIs(t, md.VerifyExtrinsic(x, q), bistro.ErrBadSignature, name)
				}
				bad := append([]byte(nil), xt...)
				bad[len(bad)-1] ^= 1
				y, err := md.DecodeExtrinsic(bad)
				require.NoError(t, err)
				assert.ErrorIs(t, md.VerifyExtrinsic(y, *p), bistro.ErrBadSignature)
			}
		})
	}
}

func lenPrefix(b []byte) int {
	switch b[0] & 3 {
	case 0:
		return 1
	case 1:
		return 2
	case 2:
		return 4
	}
	return int(b[0]>>2) + 5
}

func TestSigningPayloadLayout(t *testing.T) {
	md := scaletest.Metadata(t, "metadata_v14.txt")
	p := txParams(t, md)
	call, err := md.SetWeightsCall(1, []uint16{1}, []uint16{1}, 1)
	require.NoError(t, err)
	payload, extra, err := md.SigningPayload(call, p)
	require.NoError(t, err)
	// extra: era (2 bytes), nonce compact(17) = 0x44, tip compact(1000) =
	// 0xa10f, CheckMetadataHash mode Disabled = 0x00.
	assert.Equal(t, hex.EncodeToString(p.Era.Bytes())+"44"+"a10f"+"00", hex.EncodeToString(extra))
	// implicit: spec u32, tx u32, genesis, era block hash, metadata hash None.
	implicit := fmt.Sprintf("%08x", swap32(p.SpecVersion)) + fmt.Sprintf("%08x", swap32(p.TxVersion)) +
		hex.EncodeToString(p.GenesisHash[:]) + hex.EncodeToString(p.EraBlockHash[:]) + "00"
	assert.Equal(t, hex.EncodeToString(call)+hex.EncodeToString(extra)+implicit, hex.EncodeToString(payload))

	// Immortal: era 0x00 and the genesis hash in place of the block hash.
	q := *p
	q.Era = scale.Era{}
	payload, extra, err = md.SigningPayload(call, &q)
	require.NoError(t, err)
	assert.Equal(t, "00", hex.EncodeToString(extra[:1]))
	assert.Contains(t, hex.EncodeToString(payload), hex.EncodeToString(p.GenesisHash[:])+hex.EncodeToString(p.GenesisHash[:]))

	// CheckMetadataHash enabled: mode 1 and Some(hash).
	q = *p
	q.MetadataHash = &[32]byte{9}
	payload, extra, err = md.SigningPayload(call, &q)
	require.NoError(t, err)
	assert.Equal(t, byte(1), extra[len(extra)-1])
	assert.Equal(t, "01"+hex.EncodeToString(q.MetadataHash[:]), hex.EncodeToString(payload[len(payload)-33:]))

	// Overrides by identifier.
	q = *p
	q.Extra = map[string]scale.Value{"CheckNonce": uint32(3)}
	_, extra, err = md.SigningPayload(call, &q)
	require.NoError(t, err)
	assert.Equal(t, byte(3<<2), extra[2])
}

func swap32(v uint32) uint32 { return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24 }

func TestUnknownExtension(t *testing.T) {
	md0 := scaletest.Metadata(t, "CortexLM_finney.scale")
	md := *md0
	u32, ok := findPrimitive(md.Types, scale.PrimU32)
	require.True(t, ok)
	unit, ok := findEmpty(md.Types)
	require.True(t, ok)
	md.Extrinsic.Extensions = append(append([]scale.Extension(nil), md0.Extrinsic.Extensions...),
		scale.Extension{Identifier: "NewThing", Type: u32, Implicit: unit})
	p := txParams(t, &md)
	call, err := md.SetWeightsCall(1, nil, nil, 0)
	require.NoError(t, err)
	_, _, err = md.SigningPayload(call, p)
	require.ErrorIs(t, err, scale.ErrUnknownExtension)
	assert.Contains(t, err.Error(), "NewThing")
	p.Extra = map[string]scale.Value{"NewThing": uint32(7)}
	_, extra, err := md.SigningPayload(call, p)
	require.NoError(t, err)
	assert.Equal(t, []byte{7, 0, 0, 0}, extra[len(extra)-4:])
}

func findPrimitive(reg *scale.Registry, p scale.Primitive) (scale.TypeID, bool) {
	for i := 0; i < reg.Len(); i++ {
		t, _ := reg.Type(scale.TypeID(i))
		if t.Kind == scale.KindPrimitive && t.Primitive == p {
			return scale.TypeID(i), true
		}
	}
	return 0, false
}

func findEmpty(reg *scale.Registry) (scale.TypeID, bool) {
	for i := 0; i < reg.Len(); i++ {
		if reg.IsEmpty(scale.TypeID(i)) {
			return scale.TypeID(i), true
		}
	}
	return 0, false
}

func TestWeightsPath(t *testing.T) {
	for _, file := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, file)
		p, err := md.WeightsPathFor(1, false)
		require.NoError(t, err)
		assert.Equal(t, scale.DirectWeights, p)
		p, err = md.WeightsPathFor(1, true)
		require.NoError(t, err)
		assert.Equal(t, scale.HashCommitReveal, p)
		assert.True(t, md.HasTimelockedCommits())

		// A runtime that takes only timelocked commits: drand, refused.
		only := withoutCalls(t, md, "commit_weights", "reveal_weights")
		_, err = only.WeightsPathFor(9, true)
		require.ErrorIs(t, err, scale.ErrTimelockedCommitReveal)
		assert.Contains(t, err.Error(), "netuid 9")
		assert.Contains(t, err.Error(), "drand")
		p, err = only.WeightsPathFor(9, false)
		require.NoError(t, err)
		assert.Equal(t, scale.DirectWeights, p)
	}
}

// withoutCalls returns a copy of md whose SubtensorModule lacks the named
// calls.
func withoutCalls(t testing.TB, md *scale.Metadata, names ...string) *scale.Metadata {
	t.Helper()
	out, err := scale.WithoutCalls(md, "SubtensorModule", names...)
	require.NoError(t, err)
	for _, n := range names {
		require.False(t, out.HasCall("SubtensorModule", n))
		require.True(t, md.HasCall("SubtensorModule", n), "the original is unchanged")
	}
	return out
}

func TestWeightsCommitHash(t *testing.T) {
	key := alice(t).Hotkey()
	h := scale.WeightsCommitHash(key, 1, []uint16{0, 1}, []uint16{10, 20}, []uint16{7}, 1)
	enc := append(key[:], 1, 0, 8, 0, 0, 1, 0, 8, 10, 0, 20, 0, 4, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0)
	assert.Equal(t, scale.Blake2b256(enc), h)
}

func TestDecodeEvents(t *testing.T) {
	key := alice(t).Hotkey()
	for _, file := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, file)
		e, err := md.StorageEntry("System", "Events")
		require.NoError(t, err)
		ev := func(pallet, name string, fields ...scale.Value) *scale.VariantValue {
			var c scale.Composite
			for _, f := range fields {
				c = append(c, scale.NamedValue{Value: f})
			}
			return &scale.VariantValue{Name: pallet, Fields: scale.Composite{{Value: &scale.VariantValue{Name: name, Fields: c}}}}
		}
		records := []scale.Value{
			map[string]scale.Value{
				"phase":  &scale.VariantValue{Name: "ApplyExtrinsic", Fields: scale.Composite{{Value: uint32(2)}}},
				"event":  ev("SubtensorModule", "WeightsSet", uint16(1), uint16(5)),
				"topics": []scale.Value{},
			},
			map[string]scale.Value{
				"phase":  &scale.VariantValue{Name: "Finalization"},
				"event":  ev("Commitments", "Commitment", uint16(3), key),
				"topics": [][32]byte{{1}},
			},
		}
		b, err := md.Types.Encode(e.ValueType, records)
		require.NoError(t, err, file)
		got, err := md.DecodeEvents(b)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "ApplyExtrinsic", got[0].Phase)
		assert.Equal(t, uint32(2), got[0].Extrinsic)
		assert.Equal(t, "SubtensorModule", got[0].Pallet)
		assert.Equal(t, "WeightsSet", got[0].Name)
		assert.Equal(t, "Finalization", got[1].Phase)
		assert.Equal(t, "Commitment", got[1].Name)
		who, _ := got[1].Fields.Get("who")
		assert.Equal(t, key[:], firstField(who))
		assert.Equal(t, [][32]byte{{1}}, got[1].Topics)

		_, err = md.DecodeEvents(b[:len(b)-1])
		assert.ErrorIs(t, err, scale.ErrDecode)
	}
}
