package scale_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// rpcCall is one recorded JSON-RPC call: method -> [{params, result}].
type rpcCall struct {
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
}

func loadSeed(t testing.TB, name string) map[string][]rpcCall {
	t.Helper()
	var seed map[string][]rpcCall
	require.NoError(t, json.Unmarshal(scaletest.Read(t, name), &seed), name)
	return seed
}

func str(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s))
	return s
}

func hexBytes(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	b, err := scale.DecodeHex(str(t, raw))
	require.NoError(t, err)
	return b
}

// TestRecordedStorageKeys rebuilds the storage keys the recording asked
// finney for (SubtensorModule maps keyed by netuid 1) from the metadata.
func TestRecordedStorageKeys(t *testing.T) {
	seed := loadSeed(t, "metagraph_seed.json")
	calls := seed["state_getStorageAt"]
	require.NotEmpty(t, calls)
	for _, file := range scaletest.MetadataFiles[:2] {
		md := scaletest.Metadata(t, file)
		p, err := md.Pallet("SubtensorModule")
		require.NoError(t, err)
		for _, c := range calls {
			want := hexBytes(t, c.Params[0])
			var found string
			for _, e := range p.Storage {
				prefix, err := md.StoragePrefix(p.Name, e.Name)
				require.NoError(t, err)
				if strings.HasPrefix(string(want), string(prefix)) {
					found = e.Name
				}
			}
			require.NotEmpty(t, found, "no SubtensorModule entry for key %x", want)
			key, err := md.StorageKey("SubtensorModule", found, uint16(1))
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(key), found)
			keys, err := md.DecodeStorageKey("SubtensorModule", found, key)
			require.NoError(t, err)
			assert.Equal(t, []scale.Value{uint16(1)}, keys)
			// The recorded result is null: absent, read as the default.
			assert.Equal(t, "null", string(c.Result))
			_, err = md.DecodeStorage("SubtensorModule", found, nil)
			require.NoError(t, err)
		}
	}
}

func TestStorageKeys(t *testing.T) {
	alice := mustHotkey(t, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
	for _, file := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, file)
		key, err := md.StorageKey("System", "Account", alice)
		require.NoError(t, err)
		assert.Equal(t, "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"+
			"de1e86a9a8c739864cf3cc5ec2bea59fd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
			hex.EncodeToString(key), file)

		// CommitmentOf: Identity(netuid) ‖ Twox64Concat(account).
		key, err = md.StorageKey("Commitments", "CommitmentOf", uint16(7), alice)
		require.NoError(t, err)
		prefix, _ := md.StoragePrefix("Commitments", "CommitmentOf")
		want := append(append(append(prefix, 7, 0), scale.AppendTwox(nil, alice[:], 1)...), alice[:]...)
		assert.Equal(t, want, key)
		keys, err := md.DecodeStorageKey("Commitments", "CommitmentOf", key)
		require.NoError(t, err)
		require.Len(t, keys, 2)
		assert.Equal(t, uint16(7), keys[0])
		assert.Equal(t, alice[:], firstField(keys[1]))
		// A partial key is the prefix of the netuid's entries.
		part, err := md.StorageKey("Commitments", "CommitmentOf", uint16(7))
		require.NoError(t, err)
		assert.Equal(t, key[:len(part)], part)
		_, err = md.StorageKey("Commitments", "CommitmentOf", uint16(7), alice, 1)
		assert.ErrorIs(t, err, scale.ErrEncode)
		_, err = md.DecodeStorageKey("Commitments", "CommitmentOf", key[:len(key)-1])
		assert.ErrorIs(t, err, scale.ErrDecode)

		// Absent values: ValueQuery reads the default, OptionQuery nil.
		on, err := md.CommitRevealEnabled(nil)
		require.NoError(t, err)
		assert.True(t, on, "Subtensor's default is commit-reveal on")
		off, err := md.CommitRevealEnabled([]byte{0})
		require.NoError(t, err)
		assert.False(t, off)
		v, err := md.DecodeStorage("Commitments", "CommitmentOf", nil)
		require.NoError(t, err)
		assert.Nil(t, v)
	}
}

func firstField(v scale.Value) []byte {
	for {
		switch x := v.(type) {
		case []byte:
			return x
		case scale.Composite:
			v = x[0].Value
		default:
			return nil
		}
	}
}

func mustHotkey(t testing.TB, ss58 string) bistro.Hotkey {
	t.Helper()
	k, err := bistro.ParseHotkey(ss58)
	require.NoError(t, err)
	return k
}

// TestRecordedHeaderHash encodes the recorded finney header with the
// metadata's Header type: its BLAKE2b-256 is the recorded block hash.
func TestRecordedHeaderHash(t *testing.T) {
	seed := loadSeed(t, "metagraph_seed.json")
	var hdr struct {
		ParentHash     string `json:"parentHash"`
		Number         string `json:"number"`
		StateRoot      string `json:"stateRoot"`
		ExtrinsicsRoot string `json:"extrinsicsRoot"`
		Digest         struct {
			Logs []string `json:"logs"`
		} `json:"digest"`
	}
	calls := seed["chain_getHeader"]
	require.NotEmpty(t, calls)
	require.NoError(t, json.Unmarshal(calls[0].Result, &hdr))
	want := str(t, calls[0].Params[0])
	checked := 0
	for _, file := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, file)
		id, ok := md.Types.FindByPath("sp_runtime::generic::header::Header")
		if !ok {
			continue // v14 does not register the Header type
		}
		checked++
		var number uint64
		for _, c := range strings.TrimPrefix(hdr.Number, "0x") {
			number = number*16 + uint64(strings.IndexRune("0123456789abcdef", c))
		}
		assert.Equal(t, uint64(6852690), number)
		// The digest items are recorded encoded; decode them by type so the
		// header is built from values.
		ht, _ := md.Types.Type(id)
		var digestType scale.TypeID
		for _, f := range ht.Fields {
			if f.Name == "digest" {
				digestType = f.Type
			}
		}
		dt, _ := md.Types.Type(digestType)
		seqT, _ := md.Types.Type(dt.Fields[0].Type)
		var logs []scale.Value
		for _, l := range hdr.Digest.Logs {
			raw, err := scale.DecodeHex(l)
			require.NoError(t, err)
			v, err := md.Types.Decode(seqT.Elem, raw)
			require.NoError(t, err)
			logs = append(logs, v)
		}
		enc, err := md.Types.Encode(id, map[string]scale.Value{
			"parent_hash":     mustHex(t, hdr.ParentHash),
			"number":          number,
			"state_root":      mustHex(t, hdr.StateRoot),
			"extrinsics_root": mustHex(t, hdr.ExtrinsicsRoot),
			"digest":          map[string]scale.Value{"logs": logs},
		})
		require.NoError(t, err)
		h := scale.Blake2b256(enc)
		assert.Equal(t, want, "0x"+hex.EncodeToString(h[:]), file)
	}
	assert.Equal(t, 3, checked, "the v15 and v16 metadata have the Header type")
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := scale.DecodeHex(s)
	require.NoError(t, err)
	return b
}

// neuron is what the tests read from a NeuronInfoLite.
type neuron struct {
	hotkey, coldkey bistro.Hotkey
	uid, netuid     uint16
	permit          bool
	stake           uint64
}

func readNeurons(t testing.TB, v scale.Value) []neuron {
	t.Helper()
	list, ok := v.([]scale.Value)
	require.True(t, ok, "neurons: %T", v)
	out := make([]neuron, len(list))
	for i, item := range list {
		c, ok := item.(scale.Composite)
		require.True(t, ok)
		get := func(name string) scale.Value {
			v, ok := c.Get(name)
			require.True(t, ok, name)
			return v
		}
		copy(out[i].hotkey[:], firstField(get("hotkey")))
		copy(out[i].coldkey[:], firstField(get("coldkey")))
		out[i].uid = get("uid").(uint16)
		out[i].netuid = get("netuid").(uint16)
		out[i].permit = get("validator_permit").(bool)
		for _, s := range get("stake").([]scale.Value) {
			out[i].stake += s.([]scale.Value)[1].(uint64)
		}
	}
	return out
}

func checkNeurons(t *testing.T, ns []neuron, netuid uint16) {
	t.Helper()
	seen := map[uint16]bool{}
	permits := 0
	hotkeys := map[bistro.Hotkey]bool{}
	var stake uint64
	for _, n := range ns {
		assert.Equal(t, netuid, n.netuid)
		assert.False(t, seen[n.uid], "uid %d twice", n.uid)
		seen[n.uid] = true
		hotkeys[n.hotkey] = true
		ss58 := n.hotkey.String()
		assert.True(t, strings.HasPrefix(ss58, "5") && len(ss58) == 48, ss58)
		back, err := bistro.ParseHotkey(ss58)
		require.NoError(t, err)
		assert.Equal(t, n.hotkey, back)
		if n.permit {
			permits++
		}
		stake += n.stake
	}
	for uid := range ns {
		assert.True(t, seen[uint16(uid)], "uids are 0 … n-1: %d missing", uid)
	}
	assert.Greater(t, permits, 0)
	assert.LessOrEqual(t, permits, 256)
	assert.Greater(t, stake, uint64(0))
	assert.Greater(t, len(hotkeys), len(ns)/2, "hotkeys mostly distinct")
}

// TestRecordedRuntimeAPIs decodes every recorded state_call result of
// finney (spec 343, block 6852690) with the output type the v15 metadata
// gives its runtime API method, every byte consumed.
func TestRecordedRuntimeAPIs(t *testing.T) {
	md := scaletest.Metadata(t, "metadata_v15_at_version.txt")
	seed := loadSeed(t, "metagraph_seed.json")
	calls := seed["state_call"]
	require.Len(t, calls, 3)
	for _, c := range calls {
		name := str(t, c.Params[0])
		api, method, ok := strings.Cut(name, "_")
		require.True(t, ok, name)
		m, err := md.RuntimeAPIMethod(api, method)
		require.NoError(t, err, name)
		v, err := md.Types.Decode(m.Output, hexBytes(t, c.Result))
		require.NoError(t, err, name)
		switch method {
		case "get_neurons_lite":
			ns := readNeurons(t, v)
			assert.Len(t, ns, 1024)
			checkNeurons(t, ns, 1)
		case "get_subnet_state":
			s := v.(*scale.VariantValue)
			require.Equal(t, "Some", s.Name)
			st := s.Fields[0].Value.(scale.Composite)
			hk, _ := st.Get("hotkeys")
			assert.Len(t, hk, 1024)
		case "get_selective_mechagraph":
			s := v.(*scale.VariantValue)
			require.Equal(t, "Some", s.Name)
		}
		// The inputs are encoded by the metadata's input types too.
		var in []byte
		args := map[string]scale.Value{"netuid": uint16(1), "subid": uint8(0)}
		for _, p := range m.Inputs {
			a, ok := args[p.Name]
			if !ok {
				in = nil
				break
			}
			in, err = md.Types.AppendEncode(in, p.Type, a)
			require.NoError(t, err)
		}
		if in != nil {
			assert.Equal(t, hexBytes(t, c.Params[1])[:len(in)], in, name)
		}
	}
}

// TestRecordedNeuronsLite decodes netuid 23's neurons from an older
// runtime, whose API still returned the SCALE bytes as a Vec<u8>.
func TestRecordedNeuronsLite(t *testing.T) {
	md := scaletest.Metadata(t, "metadata_v15_at_version.txt")
	seed := loadSeed(t, "neurons_lite_seed.json")
	calls := seed["state_call"]
	require.Len(t, calls, 1)
	assert.Equal(t, "NeuronInfoRuntimeApi_get_neurons_lite", str(t, calls[0].Params[0]))
	assert.Equal(t, "0x1700", str(t, calls[0].Params[1]))
	res := hexBytes(t, calls[0].Result)
	m, err := md.RuntimeAPIMethod("NeuronInfoRuntimeApi", "get_neurons_lite")
	require.NoError(t, err)
	_, err = md.Types.Decode(m.Output, res)
	require.Error(t, err, "the result is wrapped in a Vec<u8>")
	r := scale.NewReader(res)
	inner, err := r.ByteVec()
	require.NoError(t, err)
	require.NoError(t, r.Done())
	v, err := md.Types.Decode(m.Output, inner)
	require.NoError(t, err)
	ns := readNeurons(t, v)
	assert.Len(t, ns, 19)
	checkNeurons(t, ns, 23)
}
