package bistro

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fileFixture struct {
	p      Params
	signer *Keypair
	seed   Hash
	idx    Indices
	base   Hash
}

func newFileFixture(t testing.TB) fileFixture {
	p := toyParams()
	k, err := KeypairFromURI("//Alice")
	require.NoError(t, err)
	seed := seedOf("seed block")
	idx, err := Slices{Fraction: p.SliceFraction, Run: p.SliceRun}.Select(seed, toyLayout)
	require.NoError(t, err)
	return fileFixture{p: p, signer: k, seed: seed, idx: idx, base: seedOf("base")}
}

func (fx fileFixture) slice(w uint64) *File {
	vals := make([][]float32, len(fx.idx))
	for t, ix := range fx.idx {
		vals[t] = make([]float32, len(ix))
		for i := range vals[t] {
			vals[t][i] = float32(i+1) * 0.001 * float32(t+1)
		}
	}
	return &File{Kind: KindSlice, NetUID: fx.p.NetUID, Window: w, Params: fx.p.Digest(), Base: fx.base, Seed: fx.seed, Tensors: vals}
}

func (fx fileFixture) expect(kind string, w uint64) *Expect {
	return &Expect{Kind: kind, Params: &fx.p, Window: w, Layout: toyLayout, Indices: fx.idx}
}

func TestFileRoundTrip(t *testing.T) {
	fx := newFileFixture(t)
	f := fx.slice(5)
	b, err := Encode(f, toyLayout, fx.signer)
	require.NoError(t, err)
	assert.Equal(t, fx.signer.Hotkey(), f.Hotkey)
	assert.Zero(t, binary.LittleEndian.Uint64(b)%8, "header padded to 8 bytes")
	assert.LessOrEqual(t, int64(len(b)), fx.expect(KindSlice, 5).MaxFileBytes())

	e := fx.expect(KindSlice, 5)
	hk := fx.signer.Hotkey()
	e.Seed, e.Base, e.Hotkey = &fx.seed, &fx.base, &hk
	got, err := Decode(b, e)
	require.NoError(t, err)
	assert.Equal(t, f, got)
	assert.Equal(t, f.PayloadHash(toyLayout), got.PayloadHash(toyLayout))

	// Re-signing changes the bytes, never the payload hash.
	again := fx.slice(5)
	b2, err := Encode(again, toyLayout, fx.signer)
	require.NoError(t, err)
	assert.NotEqual(t, b, b2, "sr25519 signatures are randomized")
	assert.Equal(t, f.PayloadHash(toyLayout), again.PayloadHash(toyLayout))

	// Aggregates carry a manifest; checkpoints the full tensors and θ's hash.
	agg := fx.slice(5)
	agg.Kind = KindAggregate
	agg.Manifest = []ManifestEntry{{UID: 1, Hotkey: Hotkey{1}, Payload: seedOf("a")}, {UID: 4, Hotkey: Hotkey{4}, Payload: seedOf("b")}}
	ab, err := Encode(agg, toyLayout, fx.signer)
	require.NoError(t, err)
	ag, err := Decode(ab, fx.expect(KindAggregate, 5))
	require.NoError(t, err)
	assert.Equal(t, agg.Manifest, ag.Manifest)

	m, _ := NewMemModel(toyLayout)
	for i := range m.Flat() {
		m.Flat()[i] = float32(i) / 7
	}
	theta, err := ThetaHash(m)
	require.NoError(t, err)
	ck := &File{Kind: KindCheckpoint, NetUID: fx.p.NetUID, Window: 50, Params: fx.p.Digest(), Base: fx.base, Theta: theta,
		Tensors: [][]float32{m.Tensor(0), m.Tensor(1)}}
	cb, err := Encode(ck, toyLayout, fx.signer)
	require.NoError(t, err)
	assert.Contains(t, string(cb), `"shape":[8,4]`)
	cg, err := Decode(cb, fx.expect(KindCheckpoint, 50))
	require.NoError(t, err)
	assert.Equal(t, theta, cg.Theta)
	assert.Equal(t, m.Tensor(0), cg.Tensors[0])

	// Inspect needs no expectations.
	fi, layout, ok, err := Inspect(cb, 1<<20)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, KindCheckpoint, fi.Kind)
	assert.Equal(t, toyLayout, layout)
}

// mk assembles a safetensors file from a header and data, unpadded.
func mk(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

// split returns a file's header and data.
func split(b []byte) (string, []byte) {
	n := binary.LittleEndian.Uint64(b)
	return string(b[8 : 8+n]), b[8+n:]
}

func TestDecodeRejects(t *testing.T) {
	fx := newFileFixture(t)
	good, err := Encode(fx.slice(5), toyLayout, fx.signer)
	require.NoError(t, err)
	hdr, data := split(good)
	bob, err := KeypairFromURI("//Bob")
	require.NoError(t, err)
	otherParams := fx.p
	otherParams.Grace = 4
	wrong := func(mut func(f *File)) []byte {
		f := fx.slice(5)
		mut(f)
		b, err := Encode(f, toyLayout, fx.signer)
		require.NoError(t, err)
		return b
	}
	nanData := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(nanData[4:], math.Float32bits(float32(math.NaN())))
	infData := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(infData[len(infData)-4:], math.Float32bits(float32(math.Inf(-1))))
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1 // a finite change of the last value
	otherSeed, otherBase := seedOf("other"), seedOf("other base")
	bobKey := bob.Hotkey()

	cases := []struct {
		name   string
		b      []byte
		expect func(e *Expect)
		want   error
	}{
		{"empty", nil, nil, ErrMalformed},
		{"short", good[:7], nil, ErrMalformed},
		{"huge header length", append(binary.LittleEndian.AppendUint64(nil, 1<<62), good[8:]...), nil, ErrTooLarge},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, uint64(len(good))), good[8:]...), nil, ErrMalformed},
		{"file too large", append(append([]byte(nil), good...), make([]byte, 1<<16)...), nil, ErrTooLarge},
		{"header not JSON", mk("[1,2]", data), nil, ErrMalformed},
		{"header garbage", mk("{\"__metadata__\":", data), nil, ErrMalformed},
		{"repeated key", mk(strings.Replace(hdr, `{"__metadata__"`, `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__"`, 1)+`,"w":{}}`, data), nil, ErrMalformed},
		{"repeated metadata key", mk(strings.Replace(hdr, `"bistro":"1"`, `"bistro":"1","kind":"slice"`, 1), data), nil, ErrMalformed},
		{"extra metadata key", mk(strings.Replace(hdr, `"bistro":"1"`, `"bistro":"1","note":"hi"`, 1), data), nil, ErrMalformed},
		{"missing metadata key", mk(strings.Replace(hdr, `"seed":`, `"seeds":`, 1), data), nil, ErrMalformed},
		{"no metadata", mk(strings.Replace(hdr, `"__metadata__"`, `"__meta__"`, 1), data), nil, ErrMalformed},
		{"trailing data", append(append([]byte(nil), good...), 0, 0, 0, 0), nil, ErrMalformed},
		{"truncated data", good[:len(good)-4], nil, ErrMalformed},
		{"wrong dtype", mk(strings.Replace(hdr, `"F32"`, `"F16"`, 1), data), nil, ErrWrongShape},
		{"wrong shape", mk(strings.Replace(hdr, `"shape":[8]`, `"shape":[9]`, 1), data), nil, ErrWrongShape},
		{"missing tensor", mk(strings.Replace(hdr, `"b":`, `"c":`, 1), data), nil, ErrWrongShape},
		{"overlapping tensors", mk(strings.Replace(hdr, `"data_offsets":[32,36]`, `"data_offsets":[28,32]`, 1), data), nil, ErrMalformed},
		{"NaN", mk(hdr, nanData), nil, ErrNonFinite},
		{"Inf", mk(hdr, infData), nil, ErrNonFinite},
		{"bad signature", flipped, nil, ErrBadSignature},
		{"signature not hex", mk(strings.Replace(hdr, `"signature":"`, `"signature":"zz`, 1), data), nil, ErrBadSignature},
		{"wrong protocol", mk(strings.Replace(hdr, `"bistro":"1"`, `"bistro":"2"`, 1), data), nil, ErrWrongProtocol},
		{"unknown kind", mk(strings.Replace(hdr, `"kind":"slice"`, `"kind":"bread"`, 1), data), nil, ErrWrongKind},
		{"wrong kind", wrong(func(f *File) { f.Kind = KindAggregate }), nil, ErrWrongKind},
		{"wrong window", good, func(e *Expect) { e.Window = 6 }, ErrWrongWindow},
		{"wrong netuid", wrong(func(f *File) { f.NetUID = 8 }), nil, ErrWrongNetUID},
		{"wrong params", good, func(e *Expect) { e.Params = &otherParams }, ErrWrongParams},
		{"wrong seed", good, func(e *Expect) { e.Seed = &otherSeed }, ErrWrongSeed},
		{"wrong base", good, func(e *Expect) { e.Base = &otherBase }, ErrWrongBase},
		{"wrong hotkey", good, func(e *Expect) { e.Hotkey = &bobKey }, ErrWrongHotkey},
		{"bad netuid text", mk(strings.Replace(hdr, `"netuid":"7"`, `"netuid":"70000"`, 1), data), nil, ErrMalformed},
		{"bad hotkey text", mk(strings.Replace(hdr, `"hotkey":"5`, `"hotkey":"6`, 1), data), nil, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := fx.expect(KindSlice, 5)
			if c.expect != nil {
				c.expect(e)
				require.Equal(t, good, c.b, "the file is good; the expectation differs")
			} else {
				require.NotEqual(t, good, c.b, "the case changes the file")
			}
			_, err := Decode(c.b, e)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.want, "%v", err)
		})
	}

	// A signature by another key over the same content.
	f := fx.slice(5)
	_, err = Encode(f, toyLayout, bob)
	require.NoError(t, err)
	f.Hotkey = fx.signer.Hotkey()
	_, err = Decode(f.marshal(toyLayout), fx.expect(KindSlice, 5))
	assert.ErrorIs(t, err, ErrBadSignature, "Bob's signature does not verify as Alice's")

	// Encode refuses what Decode would refuse.
	bad := fx.slice(5)
	bad.Tensors[0][0] = float32(math.Inf(1))
	_, err = Encode(bad, toyLayout, fx.signer)
	assert.ErrorIs(t, err, ErrNonFinite)
	_, err = Encode(&File{Kind: KindSlice}, toyLayout, fx.signer)
	assert.ErrorIs(t, err, ErrWrongShape)
}

func TestAggregateManifestRejects(t *testing.T) {
	fx := newFileFixture(t)
	agg := fx.slice(5)
	agg.Kind = KindAggregate
	agg.Manifest = []ManifestEntry{{UID: 4, Hotkey: Hotkey{4}}, {UID: 1, Hotkey: Hotkey{1}}}
	b, err := Encode(agg, toyLayout, fx.signer)
	require.NoError(t, err)
	_, err = Decode(b, fx.expect(KindAggregate, 5))
	assert.ErrorIs(t, err, ErrMalformed, "unsorted manifest")

	agg.Manifest = make([]ManifestEntry, 5)
	for i := range agg.Manifest {
		agg.Manifest[i].UID = UID(i)
	}
	b, err = Encode(agg, toyLayout, fx.signer)
	require.NoError(t, err)
	e := fx.expect(KindAggregate, 5)
	e.MaxManifest = 4
	_, err = Decode(b, e)
	assert.ErrorIs(t, err, ErrTooLarge, "manifest over the bound")
}

// FuzzDecode feeds arbitrary bytes to the decoder of every kind: it never
// panics, and what it accepts re-encodes to a file it accepts again.
func FuzzDecode(f *testing.F) {
	fx := newFileFixture(f)
	for _, kind := range []string{KindSlice, KindAggregate} {
		s := fx.slice(5)
		s.Kind = kind
		b, err := Encode(s, toyLayout, fx.signer)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add(mk(`{"__metadata__":{}}`, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range []string{KindSlice, KindAggregate, KindCheckpoint} {
			got, err := Decode(b, fx.expect(kind, 5))
			if err != nil {
				continue
			}
			again, err := Decode(got.marshal(toyLayout), fx.expect(kind, 5))
			require.NoError(t, err)
			require.Equal(t, got.PayloadHash(toyLayout), again.PayloadHash(toyLayout))
		}
	})
}

// FuzzInspect feeds arbitrary bytes to the expectation-free decoder.
func FuzzInspect(f *testing.F) {
	fx := newFileFixture(f)
	b, err := Encode(fx.slice(5), toyLayout, fx.signer)
	require.NoError(f, err)
	f.Add(b)
	f.Add(mk(`{"__metadata__":{"bistro":"1"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, layout, _, err := Inspect(b, 1<<16)
		if err != nil {
			return
		}
		require.Len(t, got.Tensors, len(layout))
		require.True(t, bytes.HasPrefix(b, b[:8]))
	})
}

func TestDecodeDigests(t *testing.T) {
	p := testParams()
	layout := Layout{{Name: "a", Shape: []int{40}}, {Name: "b", Shape: []int{3}}}
	idx, err := Slices{Fraction: 0.5, Run: 1}.Select(Hash{1}, layout)
	require.NoError(t, err)
	k, err := KeypairFromURI("//Alice")
	require.NoError(t, err)
	vals := [][]float32{make([]float32, len(idx[0])), make([]float32, len(idx[1]))}
	for t := range vals {
		for j := range vals[t] {
			vals[t][j] = float32(t*100+j) / 7
		}
	}
	f := &File{Kind: KindSlice, NetUID: p.NetUID, Window: 1, Params: p.Digest(), Seed: Hash{1}, Tensors: vals}
	b, err := Encode(f, layout, k)
	require.NoError(t, err)
	e := &Expect{Kind: KindSlice, Params: &p, Window: 1, Layout: layout, Indices: idx}
	got, payload, values, err := DecodeDigests(b, e)
	require.NoError(t, err)
	assert.Equal(t, f.PayloadHash(layout), payload)
	assert.Equal(t, got.PayloadHash(layout), payload)
	assert.Equal(t, ValuesDigest(vals), values)
	vals[1][0]++
	assert.NotEqual(t, ValuesDigest(vals), values)
	b[len(b)-1] ^= 1
	_, _, _, err = DecodeDigests(b, e)
	assert.ErrorIs(t, err, ErrBadSignature)
}

// TestFirstNonFinite puts a NaN, +Inf or −Inf at every position of vectors
// of every length up to 40 (the word-wise scan and its scalar tail) among
// values whose exponents come close to the mask: subnormals, the largest
// finite float, negative zero.
func TestFirstNonFinite(t *testing.T) {
	finite := []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1.5, -2}
	for n := 0; n <= 40; n++ {
		v := make([]float32, n)
		for i := range v {
			v[i] = finite[i%len(finite)]
		}
		if got := firstNonFinite(v); got != -1 {
			t.Fatalf("len %d, all finite: got %d", n, got)
		}
		for at := 0; at < n; at++ {
			for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
				w := slices.Clone(v)
				w[at] = bad
				if at+3 < n {
					w[at+3] = bad // a later one must not win
				}
				if got := firstNonFinite(w); got != at {
					t.Fatalf("len %d, %v at %d: got %d", n, bad, at, got)
				}
			}
		}
	}
}
