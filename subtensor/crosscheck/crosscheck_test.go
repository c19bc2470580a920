package crosscheck_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/crosscheck"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
	"github.com/bistro-go/bistro/subtensor/wallet"
)

const aliceURI = "//Alice"

func harness(t testing.TB) *crosscheck.Harness {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	h, err := crosscheck.Find(dir)
	if err != nil {
		t.Fatalf("MISSING: %v", err)
	}
	return h
}

// run runs ops through node and decodes result i into out[i]; a node-side
// error fails the test.
func run(t testing.TB, h *crosscheck.Harness, ops []crosscheck.Op, out ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := h.Run(ctx, ops)
	require.NoError(t, err)
	for i, r := range res {
		var e struct {
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(r, &e))
		require.Empty(t, e.Error, "node op %d (%v)", i, ops[i]["op"])
		if i < len(out) && out[i] != nil {
			require.NoError(t, json.Unmarshal(r, out[i]), "op %d", i)
		}
	}
}

// loadOps loads every fixture metadata on the node side, as id = file name.
func loadOps(t testing.TB) []crosscheck.Op {
	dir := scaletest.Dir(t)
	var ops []crosscheck.Op
	for _, f := range scaletest.MetadataFiles {
		op := crosscheck.Op{"op": "loadMetadata", "id": f, "file": filepath.Join(dir, f), "encoding": "hex"}
		if strings.HasSuffix(f, ".scale") {
			op["encoding"] = "binary"
		}
		if strings.Contains(f, "at_version") {
			op["opaque"] = true
		}
		ops = append(ops, op)
	}
	return ops
}

func hexOf(b []byte) string { return "0x" + hex.EncodeToString(b) }

type hexResult struct {
	Hex string `json:"hex"`
}

func TestMetadataExtensions(t *testing.T) {
	t.Parallel()
	h := harness(t)
	ops := loadOps(t)
	out := make([]any, len(ops))
	type loaded struct {
		Version          int      `json:"version"`
		SignedExtensions []string `json:"signedExtensions"`
	}
	res := make([]loaded, len(ops))
	for i := range res {
		out[i] = &res[i]
	}
	run(t, h, ops, out...)
	for i, f := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, f)
		assert.Equal(t, md.Version, res[i].Version, f)
		var ids []string
		for _, x := range md.Extrinsic.Extensions {
			ids = append(ids, x.Identifier)
		}
		assert.Equal(t, res[i].SignedExtensions, ids, f)
	}
}

// TestCallsAndStorageKeys: every call bistro makes and a set of storage
// keys, encoded by both sides from each metadata.
func TestCallsAndStorageKeys(t *testing.T) {
	t.Parallel()
	h := harness(t)
	alice, err := bistro.KeypairFromURI(aliceURI)
	require.NoError(t, err)
	ak := alice.Hotkey()
	fields := [][]byte{append([]byte{'b', 1}, bytes.Repeat([]byte{7}, 40)...), []byte("https://example.r2.cloudflarestorage.com"), bytes.Repeat([]byte{'x'}, 128)}
	var commitHash [32]byte
	commitHash[3] = 0x33

	type check struct {
		what string
		ours func(md *scale.Metadata) ([]byte, error)
		op   crosscheck.Op
	}
	uids := []uint16{0, 1, 2, 300}
	ws := []uint16{65535, 0, 12, 7}
	checks := []check{
		{"set_weights", func(md *scale.Metadata) ([]byte, error) { return md.SetWeightsCall(3, uids, ws, 42) },
			crosscheck.Op{"op": "call", "pallet": "SubtensorModule", "call": "set_weights", "args": []any{3, uids, ws, 42}}},
		{"commit_weights", func(md *scale.Metadata) ([]byte, error) { return md.CommitWeightsCall(3, commitHash) },
			crosscheck.Op{"op": "call", "pallet": "SubtensorModule", "call": "commit_weights", "args": []any{3, hexOf(commitHash[:])}}},
		{"reveal_weights", func(md *scale.Metadata) ([]byte, error) {
			return md.RevealWeightsCall(3, uids, ws, []uint16{9, 8, 7}, 42)
		}, crosscheck.Op{"op": "call", "pallet": "SubtensorModule", "call": "reveal_weights", "args": []any{3, uids, ws, []uint16{9, 8, 7}, 42}}},
		{"set_commitment", func(md *scale.Metadata) ([]byte, error) { return md.SetCommitmentCall(300, fields) },
			crosscheck.Op{"op": "call", "pallet": "Commitments", "call": "set_commitment", "args": []any{300, map[string]any{"fields": rawData(fields)}}}},
		{"System.Account", func(md *scale.Metadata) ([]byte, error) { return md.StorageKey("System", "Account", ak) },
			crosscheck.Op{"op": "storageKey", "pallet": "System", "entry": "Account", "keys": []any{ak.String()}}},
		{"System.Events", func(md *scale.Metadata) ([]byte, error) { return md.StorageKey("System", "Events") },
			crosscheck.Op{"op": "storageKey", "pallet": "System", "entry": "Events", "keys": []any{}}},
		{"Commitments.CommitmentOf", func(md *scale.Metadata) ([]byte, error) {
			return md.StorageKey("Commitments", "CommitmentOf", uint16(300), ak)
		}, crosscheck.Op{"op": "storageKey", "pallet": "Commitments", "entry": "CommitmentOf", "keys": []any{300, ak.String()}}},
		{"SubtensorModule.Uids", func(md *scale.Metadata) ([]byte, error) {
			return md.StorageKey("SubtensorModule", "Uids", uint16(1), ak)
		}, crosscheck.Op{"op": "storageKey", "pallet": "SubtensorModule", "entry": "Uids", "keys": []any{1, ak.String()}}},
		{"SubtensorModule.Keys", func(md *scale.Metadata) ([]byte, error) {
			return md.StorageKey("SubtensorModule", "Keys", uint16(1), uint16(5))
		}, crosscheck.Op{"op": "storageKey", "pallet": "SubtensorModule", "entry": "Keys", "keys": []any{1, 5}}},
		{"SubtensorModule.CommitRevealWeightsEnabled", func(md *scale.Metadata) ([]byte, error) {
			return md.StorageKey("SubtensorModule", "CommitRevealWeightsEnabled", uint16(23))
		}, crosscheck.Op{"op": "storageKey", "pallet": "SubtensorModule", "entry": "CommitRevealWeightsEnabled", "keys": []any{23}}},
	}
	ops := loadOps(t)
	nLoad := len(ops)
	for _, f := range scaletest.MetadataFiles {
		for _, c := range checks {
			op := crosscheck.Op{"md": f}
			for k, v := range c.op {
				op[k] = v
			}
			ops = append(ops, op)
		}
	}
	out := make([]any, len(ops))
	res := make([]hexResult, len(ops))
	for i := nLoad; i < len(ops); i++ {
		out[i] = &res[i]
	}
	run(t, h, ops, out...)
	i := nLoad
	for _, f := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, f)
		for _, c := range checks {
			ours, err := c.ours(md)
			require.NoError(t, err, "%s %s", f, c.what)
			assert.Equal(t, res[i].Hex, hexOf(ours), "%s %s", f, c.what)
			i++
		}
	}
}

// rawData is the polkadot JSON of a list of Data::Raw fields.
func rawData(fields [][]byte) []any {
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = map[string]any{fmt.Sprintf("Raw%d", len(f)): hexOf(f)}
	}
	return out
}

type signResult struct {
	Era              string `json:"era"`
	Payload          string `json:"payload"`
	Signed           string `json:"signed"`
	Address          string `json:"address"`
	GoSignatureValid bool   `json:"goSignatureValid"`
	WithGoSignature  string `json:"withGoSignature"`
	Signature        string `json:"signature"`
	Extrinsic        string `json:"extrinsic"`
}

type decodedResult struct {
	Section   string   `json:"section"`
	Method    string   `json:"method"`
	Args      []string `json:"args"`
	Signer    string   `json:"signer"`
	Nonce     string   `json:"nonce"`
	Tip       string   `json:"tip"`
	Era       string   `json:"era"`
	Reencoded string   `json:"reencoded"`
	Hash      string   `json:"hash"`
}

// recordedParams are finney's (block 6852690 of the recording) with each
// metadata's own versions.
func recordedParams(t testing.TB, md *scale.Metadata) scale.TxParams {
	t.Helper()
	c, err := md.Constant("System", "Version")
	require.NoError(t, err)
	v, err := md.Types.Decode(c.Type, c.Value)
	require.NoError(t, err)
	spec, _ := v.(scale.Composite).Get("spec_version")
	tx, _ := v.(scale.Composite).Get("transaction_version")
	var p scale.TxParams
	p.SpecVersion, p.TxVersion = spec.(uint32), tx.(uint32)
	g, _ := hex.DecodeString("2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03")
	b, _ := hex.DecodeString("db13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0")
	copy(p.GenesisHash[:], g)
	copy(p.EraBlockHash[:], b)
	return p
}

// TestSignedExtrinsics: for each metadata and several transactions, both
// sides build the signing payload and lay out the signed extrinsic; our
// signature verifies under polkadot and polkadot's under ours, and each
// side decodes the other's extrinsic.
func TestSignedExtrinsics(t *testing.T) {
	t.Parallel()
	h := harness(t)
	alice, err := bistro.KeypairFromURI(aliceURI)
	require.NoError(t, err)

	type tx struct {
		name    string
		call    func(md *scale.Metadata) ([]byte, error)
		current uint64
		period  uint64
		nonce   uint64
		tip     uint64
		mhash   *[32]byte
	}
	big := make([]uint16, 180)
	for i := range big {
		big[i] = uint16(i * 7)
	}
	txs := []tx{
		{"set_weights", func(md *scale.Metadata) ([]byte, error) {
			return md.SetWeightsCall(1, []uint16{0, 5}, []uint16{100, 65535}, bistro.ProtocolVersion)
		}, 6852690, 64, 17, 0, nil},
		{"set_weights long (hashed payload)", func(md *scale.Metadata) ([]byte, error) {
			return md.SetWeightsCall(1, big, big, 7)
		}, 6852690, 128, 1 << 20, 1_000_000_000_000, nil},
		{"set_commitment", func(md *scale.Metadata) ([]byte, error) {
			return md.SetCommitmentCall(23, [][]byte{[]byte("b\x01abc"), []byte("https://r2.example.com")})
		}, 100, 4096, 0, 5, nil},
		{"commit_weights, metadata hash", func(md *scale.Metadata) ([]byte, error) {
			return md.CommitWeightsCall(2, scale.WeightsCommitHash(alice.Hotkey(), 2, []uint16{1}, []uint16{2}, []uint16{3}, 4))
		}, 70000, 65536, 3, 1, &[32]byte{0xab, 0xcd}},
		{"reveal_weights, immortal", func(md *scale.Metadata) ([]byte, error) {
			return md.RevealWeightsCall(2, []uint16{1}, []uint16{2}, []uint16{3}, 4)
		}, 0, 0, 9, 0, nil},
	}

	type prepared struct {
		md     *scale.Metadata
		p      scale.TxParams
		call   []byte
		ours   []byte
		sig    []byte
		signed []byte
		extra  []byte
	}
	var preps []prepared
	ops := loadOps(t)
	nLoad := len(ops)
	for _, f := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, f)
		for _, x := range txs {
			p := recordedParams(t, md)
			if x.period > 0 {
				p.Era = scale.MortalEra(x.current, x.period)
			}
			p.Nonce, p.Tip, p.MetadataHash = x.nonce, x.tip, x.mhash
			call, err := x.call(md)
			require.NoError(t, err)
			payload, extra, err := md.SigningPayload(call, &p)
			require.NoError(t, err)
			sig, err := alice.Sign(payload)
			require.NoError(t, err)
			ours, err := md.AssembleSigned(alice.Hotkey(), sig, extra, call)
			require.NoError(t, err)
			preps = append(preps, prepared{md: md, p: p, call: call, ours: ours, sig: sig, signed: payload, extra: extra})
			op := crosscheck.Op{
				"op": "sign", "md": f, "uri": aliceURI, "call": hexOf(call),
				"nonce": x.nonce, "tip": fmt.Sprint(x.tip), "specVersion": p.SpecVersion, "transactionVersion": p.TxVersion,
				"genesisHash": hexOf(p.GenesisHash[:]), "blockHash": hexOf(p.EraBlockHash[:]),
				"goSignature": hexOf(sig),
			}
			if x.period == 0 {
				op["immortal"] = true
			} else {
				op["current"], op["period"] = x.current, x.period
			}
			if x.mhash != nil {
				op["metadataHash"] = hexOf(x.mhash[:])
			}
			ops = append(ops, op, crosscheck.Op{"op": "decodeExtrinsic", "md": f, "hex": hexOf(ours)})
		}
	}
	out := make([]any, len(ops))
	signs := make([]signResult, len(preps))
	decs := make([]decodedResult, len(preps))
	for i := range preps {
		out[nLoad+2*i] = &signs[i]
		out[nLoad+2*i+1] = &decs[i]
	}
	run(t, h, ops, out...)

	for i, pr := range preps {
		name := fmt.Sprintf("%s: %s", scaletest.MetadataFiles[i/len(txs)], txs[i%len(txs)].name)
		s, d := signs[i], decs[i]
		// The payload, byte for byte (before hashing), and what is signed.
		payload := append(append([]byte(nil), pr.call...), pr.extra...)
		payload, err := pr.md.AppendImplicit(payload, &pr.p)
		require.NoError(t, err)
		assert.Equal(t, s.Payload, hexOf(payload), name)
		assert.Equal(t, s.Signed, hexOf(pr.signed), name)
		assert.Equal(t, s.Era, hexOf(pr.p.Era.Bytes()), name)
		// Ours verified by theirs; their layout of our signature is ours.
		assert.True(t, s.GoSignatureValid, name)
		assert.Equal(t, s.WithGoSignature, hexOf(pr.ours), name)
		// Theirs verified by ours, through our decoder.
		theirs, err := scale.DecodeHex(s.Extrinsic)
		require.NoError(t, err)
		x, err := pr.md.DecodeExtrinsic(theirs)
		require.NoError(t, err, name)
		require.NoError(t, pr.md.VerifyExtrinsic(x, pr.p), name)
		assert.Equal(t, s.Signature, hexOf(x.Signature), name)
		sigBytes, _ := scale.DecodeHex(s.Signature)
		assert.True(t, bistro.Verify(alice.Hotkey(), pr.signed, sigBytes), name)
		assert.Equal(t, alice.Hotkey().String(), s.Address)
		// Their decoding of ours.
		ours, err := pr.md.DecodeExtrinsic(pr.ours)
		require.NoError(t, err)
		assert.Equal(t, d.Reencoded, hexOf(pr.ours), name)
		assert.Equal(t, d.Hash, hexOf(ours.Hash[:]), name)
		assert.Equal(t, alice.Hotkey().String(), d.Signer, name)
		assert.Equal(t, fmt.Sprint(ours.Nonce), d.Nonce, name)
		assert.Equal(t, ours.Tip.String(), d.Tip, name)
		assert.Equal(t, hexOf(pr.p.Era.Bytes()), d.Era, name)
		assert.Equal(t, toSnake(d.Method), ours.Call.Name, name)
		assert.Len(t, d.Args, len(ours.Call.Args), name)
	}
}

func toSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestEvents: a System.Events value encoded by us from values decodes the
// same on both sides.
func TestEvents(t *testing.T) {
	t.Parallel()
	h := harness(t)
	alice, err := bistro.KeypairFromURI(aliceURI)
	require.NoError(t, err)
	ak := alice.Hotkey()
	ops := loadOps(t)
	nLoad := len(ops)
	var encoded [][]byte
	for _, f := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, f)
		e, err := md.StorageEntry("System", "Events")
		require.NoError(t, err)
		ev := func(pallet, name string, fields ...scale.Value) *scale.VariantValue {
			var c scale.Composite
			for _, x := range fields {
				c = append(c, scale.NamedValue{Value: x})
			}
			return &scale.VariantValue{Name: pallet, Fields: scale.Composite{{Value: &scale.VariantValue{Name: name, Fields: c}}}}
		}
		b, err := md.Types.Encode(e.ValueType, []scale.Value{
			map[string]scale.Value{"phase": &scale.VariantValue{Name: "Initialization"},
				"event": ev("SubtensorModule", "WeightsSet", uint16(1), uint16(5)), "topics": []scale.Value{}},
			map[string]scale.Value{"phase": &scale.VariantValue{Name: "ApplyExtrinsic", Fields: scale.Composite{{Value: uint32(3)}}},
				"event": ev("Commitments", "Commitment", uint16(23), ak), "topics": [][32]byte{{9}}},
			map[string]scale.Value{"phase": &scale.VariantValue{Name: "ApplyExtrinsic", Fields: scale.Composite{{Value: uint32(4)}}},
				"event": ev("SubtensorModule", "WeightsCommitted", ak, uint16(2), [32]byte{1, 2}), "topics": []scale.Value{}},
		})
		require.NoError(t, err)
		encoded = append(encoded, b)
		ops = append(ops, crosscheck.Op{"op": "events", "md": f, "hex": hexOf(b)})
	}
	type record struct {
		Phase   string   `json:"phase"`
		Section string   `json:"section"`
		Method  string   `json:"method"`
		Data    []string `json:"data"`
		Topics  []string `json:"topics"`
	}
	type evResult struct {
		Reencoded string   `json:"reencoded"`
		Records   []record `json:"records"`
	}
	res := make([]evResult, len(scaletest.MetadataFiles))
	out := make([]any, len(ops))
	for i := range res {
		out[nLoad+i] = &res[i]
	}
	run(t, h, ops, out...)
	for i, f := range scaletest.MetadataFiles {
		md := scaletest.Metadata(t, f)
		got, err := md.DecodeEvents(encoded[i])
		require.NoError(t, err)
		assert.Equal(t, hexOf(encoded[i]), res[i].Reencoded, f)
		require.Len(t, res[i].Records, len(got), f)
		for j, r := range res[i].Records {
			assert.Equal(t, r.Phase, got[j].Phase, f)
			assert.Equal(t, strings.ToLower(r.Section), strings.ToLower(got[j].Pallet), f)
			assert.Equal(t, r.Method, got[j].Name, f)
			assert.Len(t, r.Data, len(got[j].Fields), f)
			assert.Len(t, r.Topics, len(got[j].Topics), f)
		}
	}
}

func TestWeightsCommitHash(t *testing.T) {
	t.Parallel()
	h := harness(t)
	alice, err := bistro.KeypairFromURI(aliceURI)
	require.NoError(t, err)
	var res hexResult
	uids, values, salt := []uint16{0, 3, 9}, []uint16{65535, 1, 0}, []uint16{11, 22, 33, 44}
	run(t, h, []crosscheck.Op{{"op": "commitHash", "hotkey": alice.Hotkey().String(), "netuid": 7,
		"uids": uids, "values": values, "salt": salt, "versionKey": 1}}, &res)
	got := scale.WeightsCommitHash(alice.Hotkey(), 7, uids, values, salt, 1)
	assert.Equal(t, res.Hex, hexOf(got[:]))
}

// TestWalletKeys: btcli keyfile keys (seed, private key in btwallet's form,
// address) derived by polkadot from the same mnemonic; signatures both ways.
func TestWalletKeys(t *testing.T) {
	t.Parallel()
	h := harness(t)
	k, err := wallet.GenerateKeyfile(bytes.NewReader(bytes.Repeat([]byte{0x5a}, 32)), 12)
	require.NoError(t, err)
	phrase, _ := k.Mnemonic()
	s, err := k.Signer()
	require.NoError(t, err)
	msg := []byte("bistro cross-check")
	sig, err := s.Sign(msg)
	require.NoError(t, err)
	type keysResult struct {
		Seed, PublicKey, Address, PrivateKey string
	}
	var kr keysResult
	var ver struct {
		Valid bool `json:"valid"`
	}
	run(t, h, []crosscheck.Op{
		{"op": "keys", "mnemonic": phrase},
		{"op": "verify", "message": hexOf(msg), "signature": hexOf(sig), "address": k.Public().String()},
	}, &kr, &ver)
	seed, _ := k.Seed()
	priv, _ := k.PrivateKey()
	pub := k.Public()
	assert.Equal(t, kr.Seed, hexOf(seed))
	assert.Equal(t, kr.PrivateKey, hexOf(priv))
	assert.Equal(t, kr.PublicKey, hexOf(pub[:]))
	assert.Equal(t, kr.Address, pub.String())
	assert.True(t, ver.Valid, "our signature verified by polkadot")
}

// TestNACL: $NACL encryption both ways. Each side derives the key of the
// password with its own Argon2i (x/crypto here, libsodium there), at the
// same time; libsodium's key then opens our box and ours opens theirs.
func TestNACL(t *testing.T) {
	t.Parallel()
	h := harness(t)
	const password = "Password123"
	keyc := make(chan *wallet.NACLKey, 1)
	go func() { keyc <- wallet.DeriveNACLKey(password) }()

	nonce := bytes.Repeat([]byte{7}, 24)
	theirsPlain := []byte(`{"accountId":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"}`)
	type naclResult struct {
		Key       string `json:"key"`
		Decrypted string `json:"decrypted"`
		Encrypted string `json:"encrypted"`
	}
	var enc1 naclResult
	run(t, h, []crosscheck.Op{{"op": "nacl", "password": password, "encrypt": hexOf(theirsPlain), "nonce": hexOf(nonce)}}, &enc1)
	key := <-keyc

	// Theirs decrypted by us.
	enc, err := scale.DecodeHex(enc1.Encrypted)
	require.NoError(t, err)
	got, err := key.Decrypt(enc)
	require.NoError(t, err, "theirs decrypted by us")
	assert.Equal(t, theirsPlain, got)
	// With the fixture's nonce libsodium reproduces the fixture.
	fixture, err := scale.DecodeHex(string(scaletest.Read(t, "nacl_fixture.hex")))
	require.NoError(t, err)
	assert.Equal(t, fixture, enc, "libsodium with the fixture's nonce reproduces nacl_fixture.hex")

	// Ours decrypted by libsodium with the key libsodium derived.
	k, err := wallet.KeyfileFromMnemonic("old leopard transfer rib spatial phone calm indicate online fire caution review")
	require.NoError(t, err)
	plain := k.Marshal()
	ours, err := key.Encrypt(plain, bytes.NewReader(bytes.Repeat([]byte{3}, 24)))
	require.NoError(t, err)
	var dec naclResult
	run(t, h, []crosscheck.Op{{"op": "nacl", "key": enc1.Key, "decrypt": hexOf(ours)}}, &dec)
	assert.Equal(t, hexOf(plain), dec.Decrypted, "ours decrypted by libsodium")
	kf, err := wallet.DecodeKeyfile(plain, "")
	require.NoError(t, err)
	assert.Equal(t, k.Public(), kf.Public())
}
