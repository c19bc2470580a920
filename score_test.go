package bistro

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scoreFixture computes an honest slice of window w for a miner on the toy
// twins.
type scoreFixture struct {
	p      Params
	base   *MemModel
	ds     toyDataset
	seed   Hash
	idx    Indices
	hotkey Hotkey
	honest [][]float32
}

func newScoreFixture(t *testing.T, w uint64) scoreFixture {
	p := toyParams()
	base, err := NewMemModel(toyLayout)
	require.NoError(t, err)
	for i := range base.Flat() {
		base.Flat()[i] = float32(i%5) * 0.1
	}
	ds := toyDataset{pages: p.DatasetPages, length: int(p.PageLength)}
	seed := seedOf("seed of window")
	idx, err := Slices{Fraction: p.SliceFraction, Run: p.SliceRun}.Select(seed, toyLayout)
	require.NoError(t, err)
	alice, err := KeypairFromURI("//Alice")
	require.NoError(t, err)
	honest, err := Recompute(context.Background(), &p, base, toyTrainer{}, ds, Pages{NetUID: p.NetUID}, w, alice.Hotkey(), idx)
	require.NoError(t, err)
	return scoreFixture{p, base, ds, seed, idx, alice.Hotkey(), honest}
}

func TestScoreSlice(t *testing.T) {
	ctx := context.Background()
	const w = 4
	fx := newScoreFixture(t, w)
	in := func(v [][]float32) SliceInput {
		return SliceInput{Window: w, Hotkey: fx.hotkey, Seed: fx.seed, Values: v}
	}
	score := func(v [][]float32) Score {
		s, err := ScoreSlice(ctx, &fx.p, fx.base, toyTrainer{}, fx.ds, nil, in(v))
		require.NoError(t, err)
		return s
	}
	assert.Equal(t, Pass, score(fx.honest).Verdict, "honest")
	assert.Equal(t, 1.0, score(fx.honest).Value)

	lazy := make([][]float32, len(fx.honest))
	for t := range lazy {
		lazy[t] = make([]float32, len(fx.honest[t]))
	}
	assert.Equal(t, Slash, score(lazy).Verdict, "lazy: Δ = 0")

	noise := make([][]float32, len(fx.honest))
	r := NewRand(Hash{7})
	for t := range noise {
		noise[t] = make([]float32, len(fx.honest[t]))
		for i := range noise[t] {
			noise[t][i] = float32(float64(r.Below(2001))/1000-1) * 0.02
		}
	}
	s := score(noise)
	assert.NotEqual(t, Pass, s.Verdict, "noise of a plausible norm: %s", s.Reason)

	// Copied: Bob's honest slice submitted as Alice's — Bob's pages differ.
	bob, err := KeypairFromURI("//Bob")
	require.NoError(t, err)
	copied, err := Recompute(ctx, &fx.p, fx.base, toyTrainer{}, fx.ds, Pages{NetUID: fx.p.NetUID}, w, bob.Hotkey(), fx.idx)
	require.NoError(t, err)
	assert.Equal(t, Slash, score(copied).Verdict, "copied from another miner")

	// Stale: computed for another window's pages.
	stale, err := Recompute(ctx, &fx.p, fx.base, toyTrainer{}, fx.ds, Pages{NetUID: fx.p.NetUID}, w-1, fx.hotkey, fx.idx)
	require.NoError(t, err)
	assert.Equal(t, Slash, score(stale).Verdict, "stale pages")

	// Small honest differences (another precision) pass.
	near := make([][]float32, len(fx.honest))
	for t := range near {
		near[t] = make([]float32, len(fx.honest[t]))
		for i, v := range fx.honest[t] {
			near[t][i] = v * (1 + 1e-3)
		}
	}
	assert.Equal(t, Pass, score(near).Verdict)

	assert.Equal(t, Fail, score(fx.honest[:1]).Verdict, "wrong number of tensors")
	huge := [][]float32{append([]float32(nil), fx.honest[0]...), fx.honest[1]}
	huge[0][0] = 1e6
	assert.Equal(t, Fail, score(huge).Verdict, "norm above the bound fails the cheap check")

	other := fx.p
	other.DatasetDigest = seedOf("another dataset")
	_, err = ScoreSlice(ctx, &other, fx.base, toyTrainer{}, fx.ds, nil, in(fx.honest))
	assert.ErrorIs(t, err, ErrInvalidParams, "the dataset must be the pinned one")
}

func TestScorers(t *testing.T) {
	v := [][]float32{{3, 4}}
	assert.Equal(t, Pass, DefaultPassFail().Score(v, v).Verdict)
	assert.Equal(t, Fail, PassFail{Tau: 0.05, Slash: 0.5}.Score([][]float32{{3, 4.5}}, v).Verdict)
	assert.Equal(t, Slash, DefaultPassFail().Score([][]float32{{0, 0}}, v).Verdict)
	assert.Equal(t, Pass, DefaultPassFail().Score([][]float32{{0, 0}}, [][]float32{{0, 0}}).Verdict, "both zero")
	assert.Equal(t, Slash, DefaultPassFail().Score(v, [][]float32{{0, 0}}).Verdict)
	assert.Equal(t, Fail, DefaultPassFail().Score([][]float32{{1}}, v).Verdict, "shape")
	assert.Equal(t, -5.0, NegDistance{}.Score([][]float32{{0, 0}}, v).Value)
	assert.InDelta(t, 1.0, Cosine{}.Score([][]float32{{6, 8}}, v).Value, 1e-12)
	assert.Equal(t, Fail, Cosine{}.Score([][]float32{{-3, -4}}, v).Verdict)
}

func TestSampler(t *testing.T) {
	cands := []UID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	evaluated := func(u UID) bool { return u < 7 }
	a := NewSeededSampler(seedOf("s")).Sample(3, cands, evaluated, 5)
	b := NewSeededSampler(seedOf("s")).Sample(3, cands, evaluated, 5)
	assert.Equal(t, a, b, "the same injected seed gives the same sample")
	assert.Len(t, a, 5)
	assert.ElementsMatch(t, []UID{7, 8, 9}, a[:3], "never-evaluated first")
	seen := map[UID]bool{}
	for _, u := range a {
		assert.False(t, seen[u], "distinct")
		seen[u] = true
	}
	// Two unseeded samplers (crypto/rand) disagree: over 20 draws of 5 of 100,
	// the chance that all 20 coincide is negligible.
	many := make([]UID, 100)
	for i := range many {
		many[i] = UID(i)
	}
	differ := false
	for k := 0; k < 20 && !differ; k++ {
		x := NewSampler().Sample(1, many, nil, 5)
		y := NewSampler().Sample(1, many, nil, 5)
		differ = !assert.ObjectsAreEqual(x, y)
	}
	assert.True(t, differ)
	assert.Empty(t, NewSampler().Sample(1, many, nil, 0))
	assert.Len(t, NewSampler().Sample(1, cands, nil, 50), 10)

	// Uniform: every candidate is drawn about equally often.
	s := NewSeededSampler(seedOf("u"))
	counts := make([]int, 10)
	for k := 0; k < 5000; k++ {
		for _, u := range s.Sample(uint64(k), cands, func(UID) bool { return true }, 2) {
			counts[u]++
		}
	}
	assertUniform(t, counts, 10000)
}

func TestLedger(t *testing.T) {
	l, err := NewMovingAverage(0.5)
	require.NoError(t, err)
	hk := Hotkey{1}
	assert.False(t, l.Evaluated(3))
	u, w := l.Weights()
	assert.Empty(t, u, "no weight before the first evaluation")
	assert.Empty(t, w)

	l.Record(1, 3, hk, Score{Value: 1, Verdict: Pass})
	l.Record(1, 5, Hotkey{5}, Score{Value: 1, Verdict: Pass})
	l.Record(2, 5, Hotkey{5}, Score{Value: 0, Verdict: Fail})
	l.Record(2, 8, Hotkey{8}, Score{Value: 0, Verdict: Fail, Reason: "missing"})
	assert.True(t, l.Evaluated(3))
	e, _ := l.Entry(5)
	assert.Equal(t, 0.5, e.Average)
	// uid 3: 1; uid 5: 0.5; uid 8: 0 (dropped).
	u, w = l.Weights()
	assert.Equal(t, []UID{3, 5}, u)
	assert.Equal(t, []uint16{65535, 32768}, w)

	l.Record(3, 3, hk, Score{Value: 0, Verdict: Slash})
	e, _ = l.Entry(3)
	assert.Equal(t, 0.0, e.Average, "slash resets")
	assert.Equal(t, 1, e.Slashes)
	l.Record(4, 5, Hotkey{6}, Score{Value: 1, Verdict: Pass})
	e, _ = l.Entry(5)
	assert.Equal(t, 1.0, e.Average, "a new hotkey on the uid starts afresh")
	assert.Equal(t, 1, e.Evaluations)
	l.Record(5, 9, Hotkey{9}, Score{Value: math.NaN(), Verdict: Fail})
	e, _ = l.Entry(9)
	assert.Equal(t, 0.0, e.Average, "NaN counts as 0")

	_, err = NewMovingAverage(0)
	assert.Error(t, err)
}

func TestU16Weights(t *testing.T) {
	u, w := U16Weights([]UID{1, 2, 3, 4}, []float64{0.2, 0.1, -1, math.Inf(1)})
	assert.Equal(t, []UID{1, 2}, u)
	assert.Equal(t, []uint16{65535, 32768}, w, "0.5 × 65535 = 32767.5 rounds away from zero")
	u, w = U16Weights([]UID{1}, []float64{0})
	assert.Nil(t, u)
	assert.Nil(t, w)
	u, w = U16Weights([]UID{1, 2}, []float64{1, 1e-6})
	assert.Equal(t, []UID{1}, u, "weights that round to 0 are dropped")
	assert.Equal(t, []uint16{65535}, w)
}

func TestLedgerPersistence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.json")
	l, err := LoadMovingAverage(path, 0.3)
	require.NoError(t, err, "a missing file is an empty ledger")
	l.Record(1, 3, Hotkey{3}, Score{Value: 1, Verdict: Pass})
	require.NoError(t, l.Save(path))
	saved, err := os.ReadFile(path)
	require.NoError(t, err)

	// A crash mid-write leaves a partial temporary file beside the ledger
	// (atomicfile.Write's temporary name) and the old file untouched.
	l.Record(2, 4, Hotkey{4}, Score{Value: 1, Verdict: Pass})
	partial, err := os.CreateTemp(dir, ".ledger.json.tmp-*")
	require.NoError(t, err)
	_, err = partial.Write([]byte(`{"version":1,"entr`))
	require.NoError(t, err)
	require.NoError(t, partial.Close())
	back, err := LoadMovingAverage(path, 0.3)
	require.NoError(t, err)
	assert.True(t, back.Evaluated(3))
	assert.False(t, back.Evaluated(4), "the crashed write is not visible")
	now, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, saved, now)

	require.NoError(t, l.Save(path))
	back, err = LoadMovingAverage(path, 0.3)
	require.NoError(t, err)
	assert.True(t, back.Evaluated(4))
	u1, w1 := l.Weights()
	u2, w2 := back.Weights()
	assert.Equal(t, u1, u2)
	assert.Equal(t, w1, w2)

	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"entries":{"3":{"average":"x"}}}`), 0o644))
	_, err = LoadMovingAverage(path, 0.3)
	assert.ErrorIs(t, err, ErrCorruptLedger)
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"entries":{"3":{"average":1e999}}}`), 0o644))
	_, err = LoadMovingAverage(path, 0.3)
	assert.ErrorIs(t, err, ErrCorruptLedger)
	// A failed write (the directory is gone) reports an error.
	assert.Error(t, l.Save(filepath.Join(dir, "missing", "ledger.json")))
}
