package bistro

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outerReplica is a replica (θ, outer state) on toyLayout for the outer
// optimizer opt, θ set to a fixed pattern.
func outerReplica(t *testing.T, opt OuterOptimizer) (*Params, *MemModel, *Outer) {
	t.Helper()
	p := testParams()
	p.OuterOptimizer = opt
	require.NoError(t, p.Validate())
	m, err := NewMemModel(toyLayout)
	require.NoError(t, err)
	for i := range m.Flat() {
		m.Flat()[i] = float32(i)/7 - 2
	}
	o, err := NewOuter(&p, toyLayout)
	require.NoError(t, err)
	return &p, m, o
}

// outerWindow returns the indices and aggregate of a test window k: a
// few coordinates of each tensor, overlapping between windows.
func outerWindow(k int) (Indices, *File) {
	idx := Indices{{uint32(k % 5), uint32(3 + k%7), 20}, {uint32(k % 6)}}
	slices.Sort(idx[0])
	idx[0] = slices.Compact(idx[0])
	a := &File{Kind: KindAggregate, Window: uint64(k), Seed: seedOf(fmt.Sprint("seed", k)), Tensors: make([][]float32, 2)}
	for t, ix := range idx {
		for i := range ix {
			a.Tensors[t] = append(a.Tensors[t], float32(math.Sin(float64(7*k+3*i+t)))*1e-2)
		}
	}
	return idx, a
}

func TestOuterStepArithmetic(t *testing.T) {
	m, u := OuterStep(OuterPlain(), 0.5, 0.25)
	assert.Equal(t, [2]float32{0.5, 0.25}, [2]float32{m, u}, "sgd: u = a, no momentum")
	opt := Nesterov(0.7, 0.9)
	m, u = OuterStep(opt, 0.1, 0.01)
	wantM := float32(0.9*float64(float32(0.1)) + float64(float32(0.01)))
	assert.Equal(t, wantM, m)
	assert.Equal(t, float32(0.7*(0.9*float64(wantM)+float64(float32(0.01)))), u)
	m, u = OuterStep(Nesterov(1, 0), 3, 0.5)
	assert.Equal(t, [2]float32{0.5, 0.5}, [2]float32{m, u}, "μ = 0, L = 1 is sgd with a buffer")
}

// TestOuterSGDUnchanged: under sgd there is no buffer, the aggregate is
// added as is and the touched hash is the one of before.
func TestOuterSGDUnchanged(t *testing.T) {
	_, m, o := outerReplica(t, OuterPlain())
	assert.Nil(t, o.Momentum(), "no memory under sgd")
	ref := m.Clone()
	idx, a := outerWindow(1)
	require.NoError(t, ApplyAggregate(m, o, idx, a))
	for tt, ix := range idx {
		require.NoError(t, ref.Apply(tt, ix, a.Tensors[tt]))
	}
	assert.Equal(t, ref.Flat(), m.Flat())
	want, err := TouchedHash(m, idx)
	require.NoError(t, err)
	got, err := TouchedState(m, o, idx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Error(t, o.SetMomentum([][]float32{{1}}), "sgd takes no momentum")
	assert.ErrorIs(t, ApplyAggregate(m, nil, idx, a), ErrNoOuter)
}

// TestOuterNesterovLazy: only the touched coordinates of θ and m move.
func TestOuterNesterovLazy(t *testing.T) {
	_, m, o := outerReplica(t, Nesterov(0.7, 0.9))
	before := slices.Clone(m.Flat())
	for k := range 4 {
		idx, a := outerWindow(k)
		mom0 := slices.Clone(o.Momentum().Flat())
		th0 := slices.Clone(m.Flat())
		require.NoError(t, ApplyAggregate(m, o, idx, a))
		touched := map[int]bool{}
		for tt, ix := range idx {
			off := 0
			if tt == 1 {
				off = toyLayout[0].Len()
			}
			for i, j := range ix {
				touched[off+int(j)] = true
				wm, wu := OuterStep(o.Optimizer(), mom0[off+int(j)], a.Tensors[tt][i])
				assert.Equal(t, wm, o.Momentum().Flat()[off+int(j)])
				assert.Equal(t, th0[off+int(j)]+wu, m.Flat()[off+int(j)])
			}
		}
		for i := range th0 {
			if !touched[i] {
				assert.Equal(t, th0[i], m.Flat()[i], "θ[%d] untouched", i)
				assert.Equal(t, mom0[i], o.Momentum().Flat()[i], "m[%d] untouched", i)
			}
		}
	}
	assert.NotEqual(t, before, m.Flat())
	// A bad index changes nothing.
	mom, th := slices.Clone(o.Momentum().Flat()), slices.Clone(m.Flat())
	err := ApplyOuter(m, o, Indices{{0}, {99}}, [][]float32{{1}, {1}})
	assert.ErrorIs(t, err, ErrLayout)
	assert.Equal(t, mom, o.Momentum().Flat())
	assert.Equal(t, th, m.Flat())
}

// TestOuterDigestCoversMomentum: two replicas with the same θ and different
// momentum have different touched hashes, hence state digests.
func TestOuterDigestCoversMomentum(t *testing.T) {
	_, m, o := outerReplica(t, Nesterov(0.7, 0.9))
	idx, a := outerWindow(2)
	other := o.Clone()
	other.Momentum().Tensor(0)[idx[0][0]] = 1e-3
	d1, err := TouchedState(m, o, idx)
	require.NoError(t, err)
	d2, err := TouchedState(m, other, idx)
	require.NoError(t, err)
	assert.NotEqual(t, d1, d2, "the momentum at a touched index is in the digest")
	s1, err := StepState(m.Clone(), o.Clone(), seedOf("d"), idx, a)
	require.NoError(t, err)
	s2, err := StepState(m.Clone(), other, seedOf("d"), idx, a)
	require.NoError(t, err)
	assert.NotEqual(t, s1, s2)
	sgd, err := TouchedHash(m, idx)
	require.NoError(t, err)
	assert.NotEqual(t, sgd, d1, "its own domain")
}

// TestOuterCheckpointReplay: a checkpoint of a nesterov replica carries the
// momentum; loaded and replayed with the later aggregates, it reproduces
// the live replica's θ, momentum and state digest bit for bit.
func TestOuterCheckpointReplay(t *testing.T) {
	p, m, o := outerReplica(t, Nesterov(0.7, 0.9))
	p.FirstWindow = 10
	key, err := KeypairFromURI("//Lead")
	require.NoError(t, err)
	state := seedOf("genesis")
	var ck []byte
	const at = 3
	for k := range 7 {
		idx, a := outerWindow(k)
		state, err = StepState(m, o, state, idx, a)
		require.NoError(t, err)
		if k != at {
			continue
		}
		th, err := ThetaHash(m)
		require.NoError(t, err)
		f := &File{Kind: KindCheckpoint, NetUID: p.NetUID, Window: p.FirstWindow + at, Params: p.Digest(), Base: state, Theta: th,
			Tensors:  [][]float32{slices.Clone(m.Tensor(0)), slices.Clone(m.Tensor(1))},
			Momentum: [][]float32{slices.Clone(o.Momentum().Tensor(0)), slices.Clone(o.Momentum().Tensor(1))}}
		f.MomentumHash = MomentumHash(toyLayout, f.Momentum)
		ck, err = Encode(f, toyLayout, key)
		require.NoError(t, err)
	}
	e := &Expect{Kind: KindCheckpoint, Params: p, Window: p.FirstWindow + at, Layout: toyLayout}
	require.LessOrEqual(t, int64(len(ck)), e.MaxFileBytes())
	f, err := Decode(ck, e)
	require.NoError(t, err)
	require.Len(t, f.Tensors, 2)
	require.Len(t, f.Momentum, 2)
	assert.Equal(t, MomentumHash(toyLayout, f.Momentum), f.MomentumHash)
	_, layout, ok, err := Inspect(ck, 1<<20)
	require.NoError(t, err)
	assert.True(t, ok, "Inspect reads the momentum's tensors too")
	assert.Len(t, layout, 4)

	r, err := NewMemModel(toyLayout)
	require.NoError(t, err)
	for tt, v := range f.Tensors {
		require.NoError(t, r.Write(tt, v))
	}
	ro, err := NewOuter(p, toyLayout)
	require.NoError(t, err)
	require.NoError(t, ro.SetMomentum(f.Momentum))
	rs := f.Base
	for k := at + 1; k < 7; k++ {
		idx, a := outerWindow(k)
		rs, err = StepState(r, ro, rs, idx, a)
		require.NoError(t, err)
	}
	assert.Equal(t, m.Flat(), r.Flat(), "θ")
	assert.Equal(t, o.Momentum().Flat(), ro.Momentum().Flat(), "momentum")
	assert.Equal(t, state, rs, "state digest")

	// Under sgd Params, or without its momentum, the file is refused; the
	// genesis checkpoint carries none.
	sgd := *p
	sgd.OuterOptimizer = OuterPlain()
	_, err = Decode(ck, &Expect{Kind: KindCheckpoint, Params: &sgd, Window: p.FirstWindow + at, Layout: toyLayout})
	assert.ErrorIs(t, err, ErrWrongShape, "a momentum under sgd")
	plain := &File{Kind: KindCheckpoint, NetUID: p.NetUID, Window: p.FirstWindow + at, Params: p.Digest(), Base: state,
		Tensors: f.Tensors}
	b, err := Encode(plain, toyLayout, key)
	require.NoError(t, err)
	_, err = Decode(b, e)
	assert.ErrorIs(t, err, ErrWrongShape, "a later checkpoint without the momentum")
	plain.Window = p.FirstWindow
	b, err = Encode(plain, toyLayout, key)
	require.NoError(t, err)
	_, err = Decode(b, &Expect{Kind: KindCheckpoint, Params: p, Window: p.FirstWindow, Layout: toyLayout})
	assert.NoError(t, err, "the genesis checkpoint: momentum zero by definition")
	// The momentum's metadata: a zero hash, or one without the tensors.
	zero := *f
	zero.MomentumHash = Hash{}
	_, err = Encode(&zero, toyLayout, key)
	assert.ErrorIs(t, err, ErrWrongShape, "a momentum without its hash")
	slice := &File{Kind: KindSlice, NetUID: p.NetUID, Window: 1, Params: p.Digest(), Tensors: [][]float32{{1}, {2}},
		Momentum: [][]float32{{1}, {2}}, MomentumHash: seedOf("m")}
	_, err = Encode(slice, toyLayout, key)
	assert.ErrorIs(t, err, ErrWrongShape, "a momentum on a slice")
	zeroMeta := bytes.Replace(ck, []byte(f.MomentumHash.String()), []byte(Hash{}.String()), 1)
	_, err = Decode(zeroMeta, e)
	assert.ErrorIs(t, err, ErrMalformed, "a zero momentum hash in the metadata")
	// A momentum changed after signing breaks the signature.
	f.Momentum[1][0] += 1
	bad := f.marshal(toyLayout)
	_, err = Decode(bad, e)
	assert.ErrorIs(t, err, ErrBadSignature)
}
