package bistro

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// honestSlices returns n honest-looking contributions around a common
// direction, over the layout of idx.
func honestSlices(idx Indices, n int, seed byte) []Contribution {
	r := NewRand(Hash{seed})
	out := make([]Contribution, n)
	for i := range out {
		vals := make([][]float32, len(idx))
		for t, ix := range idx {
			vals[t] = make([]float32, len(ix))
			for j := range vals[t] {
				noise := float64(r.Below(1000))/1000 - 0.5
				vals[t][j] = float32(0.01*float64(j%7-3) + 0.002*noise)
			}
		}
		out[i] = Contribution{UID: UID(2 * i), Hotkey: Hotkey{byte(i)}, Values: vals}
	}
	return out
}

func TestTrimmedMeanPoisoningBound(t *testing.T) {
	idx := Indices{make([]uint32, 40), make([]uint32, 7)}
	agg := TrimmedMean{ClipFactor: 2, Trim: 0.34, MedianBelow: 5}
	for _, n := range []int{6, 9, 12, 4, 3} {
		honest := honestSlices(idx, n-n/3, byte(n))
		all := slices.Clone(honest)
		// Up to a third of the slices are poisoned with ±1e30.
		for a := 0; a < n/3; a++ {
			vals := make([][]float32, len(idx))
			for t, ix := range idx {
				vals[t] = make([]float32, len(ix))
				for j := range vals[t] {
					vals[t][j] = float32((1e30 + 1e28*float64(a)) * float64(1-2*((j+a)%2)))
				}
			}
			all = append(all, Contribution{UID: UID(1 + 2*a), Hotkey: Hotkey{0xf0, byte(a)}, Values: vals})
		}
		merged, manifest, dropped, err := MergeSlices(agg, idx, all)
		require.NoError(t, err)
		assert.Empty(t, dropped)
		assert.Len(t, manifest, n)
		for ti := range idx {
			for j := range idx[ti] {
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, h := range honest {
					v := float64(h.Values[ti][j])
					lo, hi = min(lo, v), max(hi, v)
				}
				got := float64(merged[ti][j])
				assert.True(t, got >= lo-1e-9 && got <= hi+1e-9,
					"n=%d tensor %d coord %d: %g outside the honest range [%g, %g]", n, ti, j, got, lo, hi)
			}
		}
	}
}

func TestMergeOrderInvariant(t *testing.T) {
	idx := Indices{make([]uint32, 50)}
	cs := honestSlices(idx, 9, 3)
	cs[4].Values[0][7] = 1e30
	agg := TrimmedMean{ClipFactor: 2, Trim: 0.2, MedianBelow: 5}
	want, _, _, err := MergeSlices(agg, idx, cs)
	require.NoError(t, err)
	r := NewRand(Hash{9})
	for k := 0; k < 20; k++ {
		perm := slices.Clone(cs)
		for i := len(perm) - 1; i > 0; i-- {
			j := r.Below(uint64(i + 1))
			perm[i], perm[j] = perm[j], perm[i]
		}
		got, manifest, _, err := MergeSlices(agg, idx, perm)
		require.NoError(t, err)
		assert.Equal(t, want, got, "identical bits for any input order")
		assert.True(t, slices.IsSortedFunc(manifest, func(a, b ManifestEntry) int { return int(a.UID) - int(b.UID) }))
	}
	// The uid order also makes the plain mean order-independent.
	m1, _, _, _ := MergeSlices(Mean{}, idx, cs)
	slices.Reverse(cs)
	m2, _, _, _ := MergeSlices(Mean{}, idx, cs)
	assert.Equal(t, m1, m2)
}

func TestMergeDropsDuplicates(t *testing.T) {
	idx := Indices{make([]uint32, 5)}
	cs := honestSlices(idx, 4, 1)
	copyOf := Contribution{UID: 11, Hotkey: Hotkey{11}, Values: [][]float32{slices.Clone(cs[2].Values[0])}}
	cs = append(cs, copyOf)
	_, manifest, dropped, err := MergeSlices(TrimmedMean{ClipFactor: 2, Trim: 0.2}, idx, cs)
	require.NoError(t, err)
	assert.Equal(t, []UID{cs[2].UID, 11}, dropped, "the whole duplicate group is dropped")
	assert.Len(t, manifest, 3)

	_, _, _, err = MergeSlices(Mean{}, idx, append(cs, cs[0]))
	assert.Error(t, err, "a uid contributing twice")
	_, _, _, err = MergeSlices(Mean{}, Indices{make([]uint32, 6)}, cs)
	assert.ErrorIs(t, err, ErrWrongShape)
	merged, manifest, _, err := MergeSlices(TrimmedMean{ClipFactor: 2}, idx, nil)
	require.NoError(t, err)
	assert.Equal(t, [][]float32{make([]float32, 5)}, merged, "an empty window still gets an aggregate")
	assert.Empty(t, manifest)
}

func TestTrimmedMeanWorked(t *testing.T) {
	a := TrimmedMean{ClipFactor: 2, Trim: 0.25, MedianBelow: 3}
	// Norms 1, 2, 3, 100: median 2.5, limit 5: only the last is clipped.
	assert.Equal(t, []float64{1, 1, 1, 0.05}, a.Scales([]float64{1, 2, 3, 100}))
	assert.Equal(t, []float64{1, 1}, a.Scales([]float64{0, 0}))
	dst := make([]float32, 1)
	// v = 1, 2, 3, 5 (100 × 0.05); t = 1: mean of 2, 3.
	a.Merge(dst, [][]float32{{1}, {2}, {3}, {100}}, []float64{1, 1, 1, 0.05})
	assert.Equal(t, float32(2.5), dst[0])
	// Below MedianBelow: the median.
	a.Merge(dst, [][]float32{{1}, {7}}, []float64{1, 1})
	assert.Equal(t, float32(4), dst[0])
	assert.Equal(t, 2.0, Median([]float64{3, 1, 2}))
	assert.Equal(t, 0.0, Median(nil))
}

func TestNormAndChecks(t *testing.T) {
	p := toyParams()
	assert.Equal(t, 5.0, Norm([][]float32{{3}, {4}}))
	lr := p.LR.At(3)
	ok := [][]float32{{float32(lr * p.ClipNorm * 0.5)}}
	assert.NoError(t, CheckNorm(&p, 3, ok))
	big := [][]float32{{float32(lr * p.ClipNorm * 1.5)}}
	assert.ErrorIs(t, CheckNorm(&p, 3, big), ErrNormBound)
	p.Checks.MinNormFactor = 0.5
	assert.ErrorIs(t, CheckNorm(&p, 3, [][]float32{{0}}), ErrNormBound, "a lazy slice is below the floor")
}

func TestStateChain(t *testing.T) {
	m, err := NewMemModel(toyLayout)
	require.NoError(t, err)
	h0, err := ThetaHash(m)
	require.NoError(t, err)
	idx := Indices{{1, 5}, {0}}
	agg := &File{Tensors: [][]float32{{0.5, -0.25}, {1}}}
	sgd := &Outer{opt: OuterPlain()}
	require.NoError(t, ApplyAggregate(m, sgd, idx, agg))
	h1, err := ThetaHash(m)
	require.NoError(t, err)
	assert.NotEqual(t, h0, h1)
	touched, err := TouchedHash(m, idx)
	require.NoError(t, err)
	d := NextState(h0, seedOf("payload"), touched)
	assert.NotEqual(t, d, NextState(h0, seedOf("payload2"), touched), "the aggregate is in the chain")
	assert.NotEqual(t, d, NextState(seedOf("x"), seedOf("payload"), touched), "the past is in the chain")
	m.Tensor(0)[5] += 1e-7
	t2, err := TouchedHash(m, idx)
	require.NoError(t, err)
	assert.NotEqual(t, touched, t2, "a different touched coordinate changes the hash")
	assert.ErrorIs(t, ApplyAggregate(m, sgd, idx, &File{Tensors: [][]float32{{1, 2}}}), ErrWrongShape)
}

func TestThetaHashOfMatches(t *testing.T) {
	m, err := NewMemModel(toyLayout)
	require.NoError(t, err)
	for i := range m.Flat() {
		m.Flat()[i] = float32(i) / 3
	}
	want, err := ThetaHash(m)
	require.NoError(t, err)
	assert.Equal(t, want, thetaHashOf(toyLayout, [][]float32{m.Tensor(0), m.Tensor(1)}))
	m.Flat()[0]++
	other, _ := ThetaHash(m)
	assert.NotEqual(t, want, other)
}
