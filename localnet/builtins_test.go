package localnet

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/train/data"
)

// TestBuiltinNames: DefaultOptions runs every built-in once, in name order.
func TestBuiltinNames(t *testing.T) {
	names := BuiltinNames()
	for _, n := range []string{"churn", "copy", "copy-noise", "equivocate", "hit-and-run", "intermittent", "late", "lazy",
		"noise", "partial", "poison", "stale", "zero"} {
		assert.Contains(t, names, n)
	}
	var got []string
	for _, a := range DefaultOptions().Adversaries {
		got = append(got, a.Name())
	}
	assert.Equal(t, names, got)
}

// TestIntermittentSkips: a quarter of the windows, by a pure function of the
// seed and the window; half of those upload zeros.
func TestIntermittentSkips(t *testing.T) {
	seed := derive("test", "adversary", 1)
	skips, zeros := 0, 0
	const n = 4000
	for w := uint64(0); w < n; w++ {
		s, z := Intermittent{}.Skips(seed, w)
		s2, z2 := Intermittent{}.Skips(seed, w)
		require.Equal(t, s, s2)
		require.Equal(t, z, z2)
		if s {
			skips++
		}
		if z {
			zeros++
		}
	}
	assert.InDelta(t, 0.25, float64(skips)/n, 0.03)
	assert.InDelta(t, 0.5, float64(zeros)/float64(skips), 0.06)
}

// TestPlausibleZero: the smallest slice that passes the norm check, and
// nothing smaller does.
func TestPlausibleZero(t *testing.T) {
	p := bistro.DefaultParams(1)
	p.Checks = bistro.CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}
	idx := bistro.Indices{{0, 3, 5}, {1}, {2, 4, 6, 8, 9}}
	v, err := PlausibleZero(&p, 7, idx, bistro.NewRand(bistro.Hash{1}))
	require.NoError(t, err)
	require.NoError(t, bistro.CheckNorm(&p, 7, v))
	c := math.Abs(float64(v[0][0]))
	for _, x := range v {
		for _, xi := range x {
			assert.Equal(t, c, math.Abs(float64(xi)), "every value is ±c")
		}
	}
	smaller := WithNoise(v, 0, bistro.NewRand(bistro.Hash{2})) // a copy
	for _, x := range smaller {
		for i := range x {
			x[i] = math.Nextafter32(x[i], 0)
		}
	}
	assert.ErrorIs(t, bistro.CheckNorm(&p, 7, smaller), bistro.ErrNormBound, "one step smaller fails")

	p.Checks.MinNormFactor = 0
	v, err = PlausibleZero(&p, 7, idx, bistro.NewRand(bistro.Hash{1}))
	require.NoError(t, err)
	assert.Zero(t, bistro.Norm(v), "no lower bound: plain zeros")
}

// TestWithNoise: noise of the asked relative norm, never the same values.
func TestWithNoise(t *testing.T) {
	v := [][]float32{{1, -2, 3, 0.5}, {0.25, 4}}
	n := WithNoise(v, 0.01, bistro.NewRand(bistro.Hash{3}))
	diff := make([][]float32, len(v))
	for i := range v {
		diff[i] = make([]float32, len(v[i]))
		for j := range v[i] {
			diff[i][j] = n[i][j] - v[i][j]
		}
	}
	assert.InDelta(t, 0.01, bistro.Norm(diff)/bistro.Norm(v), 1e-4)
	assert.NotEqual(t, bistro.DeltaHash(v), bistro.DeltaHash(n))
	assert.Equal(t, float32(1), v[0][0], "the input is not changed")
}

// recordingScorer records the verdicts of the recomputations whose slice is
// a plausible zero (every value of one tiny magnitude).
type recordingScorer struct {
	bistro.Scorer
	mu       *sync.Mutex
	verdicts *[]bistro.Verdict
}

func (s recordingScorer) Score(miner, validator [][]float32) bistro.Score {
	sc := s.Scorer.Score(miner, validator)
	if isPlausibleZero(miner) {
		s.mu.Lock()
		*s.verdicts = append(*s.verdicts, sc.Verdict)
		s.mu.Unlock()
	}
	return sc
}

func isPlausibleZero(v [][]float32) bool {
	c := float32(-1)
	for _, x := range v {
		for _, xi := range x {
			a := float32(math.Abs(float64(xi)))
			if c < 0 {
				c = a
			}
			if a != c || a == 0 {
				return false
			}
		}
	}
	return c > 0
}

// slicesIn reads the slices left in a participant's bucket folder (the last
// Retention windows), by window.
func slicesIn(t *testing.T, o Options, name string, hk bistro.Hotkey) map[uint64]*bistro.File {
	t.Helper()
	st, err := dir.New(filepath.Join(o.Dir, "buckets", name))
	require.NoError(t, err)
	objs, err := st.List(context.Background(), "bistro/")
	require.NoError(t, err)
	out := map[uint64]*bistro.File{}
	for _, ob := range objs {
		if !strings.HasSuffix(ob.Key, hk.String()+".safetensors") {
			continue
		}
		b, err := st.Get(context.Background(), ob.Key, 1<<30)
		require.NoError(t, err)
		f, _, ok, err := bistro.Inspect(b, 1<<30)
		require.NoError(t, err)
		require.True(t, ok, "%s is signed by its miner", ob.Key)
		out[f.Window] = f
	}
	return out
}

// TestFreeRiders runs partial, intermittent, hit-and-run, zero and
// copy-noise on one small network and checks what each does — its compute,
// what it uploads — not what it earns: the ledger decides that.
func TestFreeRiders(t *testing.T) {
	o := smallOptions(t, 10)
	o.Adversaries = []Adversary{Partial{}, Intermittent{}, HitAndRun{}, Zero{}, CopyNoise{}}
	var mu sync.Mutex
	var zeroVerdicts []bistro.Verdict
	o.Scorer = func() bistro.Scorer {
		return recordingScorer{Scorer: bistro.DefaultPassFail(), mu: &mu, verdicts: &zeroVerdicts}
	}
	rep := run(t, o)
	require.True(t, rep.DigestsAgree, "%v", rep.Disagreements)

	miner := map[string]MinerReport{}
	for _, m := range rep.Miners {
		miner[m.Role] = m
	}
	part := map[string]ParticipantReport{}
	for _, p := range rep.Participants {
		part[p.Role] = p
	}
	honest := part["honest"].Trained
	require.Positive(t, honest)

	t.Run("partial", func(t *testing.T) {
		assert.InDelta(t, 0.5, miner["partial"].Compute, 1e-9, "half its pages")
		assert.Equal(t, honest, part["partial"].Trained, "every window")
	})
	t.Run("intermittent", func(t *testing.T) {
		c := miner["intermittent"].Compute
		assert.InDelta(t, 0.75, c, 0.2)
		assert.Less(t, c, 1.0, "it skipped some windows")
		skipped := honest - part["intermittent"].Trained
		assert.Positive(t, skipped)
	})
	t.Run("hit-and-run", func(t *testing.T) {
		assert.Equal(t, 6, part["hit-and-run"].Trained, "exactly its first 6 windows")
		assert.Greater(t, part["hit-and-run"].Uploaded, 6, "then uploads copies")
	})
	t.Run("zero", func(t *testing.T) {
		z := miner["zero"]
		assert.Zero(t, z.Compute)
		assert.Zero(t, z.Score, "it never passes")
		assert.Positive(t, z.Evaluations)
		hk, err := bistro.ParseHotkey(z.Hotkey)
		require.NoError(t, err)
		files := slicesIn(t, o, part["zero"].Name, hk)
		require.NotEmpty(t, files)
		p := runParams(t, o)
		require.Positive(t, p.Checks.MinNormFactor)
		for w, f := range files {
			assert.NoError(t, bistro.CheckNorm(p, w, f.Tensors), "window %d passes the cheap norm check", w)
			assert.True(t, isPlausibleZero(f.Tensors), "window %d", w)
		}
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, zeroVerdicts, "it was recomputed")
		for _, v := range zeroVerdicts {
			assert.NotEqual(t, bistro.Pass, v, "a recomputation catches it")
		}
		for _, a := range rep.Aggregates {
			assert.NotContains(t, a.Merged, z.UID)
		}
	})
	t.Run("copy-noise", func(t *testing.T) {
		c := miner["copy-noise"]
		assert.Zero(t, part["copy-noise"].Trained, "never trains")
		assert.Positive(t, part["copy-noise"].Uploaded)
		hk, err := bistro.ParseHotkey(c.Hotkey)
		require.NoError(t, err)
		mine := slicesIn(t, o, part["copy-noise"].Name, hk)
		require.NotEmpty(t, mine)
		// Each is within 1% of an honest miner's slice of its window, never
		// equal to it.
		hotkeys := map[int]string{}
		for _, m := range rep.Miners {
			hotkeys[m.UID] = m.Hotkey
		}
		var peers []map[uint64]*bistro.File
		for _, p := range rep.Participants {
			if p.Role == "honest" {
				hk, err := bistro.ParseHotkey(hotkeys[p.UID])
				require.NoError(t, err)
				peers = append(peers, slicesIn(t, o, p.Name, hk))
			}
		}
		for w, f := range mine {
			near := false
			for _, ps := range peers {
				pf := ps[w]
				if pf == nil {
					continue
				}
				assert.NotEqual(t, bistro.DeltaHash(pf.Tensors), bistro.DeltaHash(f.Tensors), "window %d: not a duplicate", w)
				if relDist(f.Tensors, pf.Tensors) < 0.011 {
					near = true
				}
			}
			assert.True(t, near, "window %d: a noisy copy of a peer's slice", w)
		}
	})
}

// TestChurn: the churner earns a pass, cheats, is caught, registers a fresh
// hotkey and works again under it; the report counts both uids as its own.
// The same seed gives the same report at GOMAXPROCS 1 and 2. (16 windows:
// a ledger that pays only verified work vests a pass after a few windows.)
func TestChurn(t *testing.T) {
	o := smallOptions(t, 16)
	o.Adversaries = []Adversary{Churn{}}
	prev := runtime.GOMAXPROCS(1)
	rep := run(t, o)
	runtime.GOMAXPROCS(prev)
	require.True(t, rep.DigestsAgree, "%v", rep.Disagreements)

	i := len(rep.Miners) - 1
	c := rep.Miners[i]
	require.Equal(t, "churn", c.Role)
	require.GreaterOrEqual(t, len(c.UIDs), 2, "it registered a fresh hotkey")
	assert.Equal(t, c.UID, c.UIDs[0])
	held := map[int]bool{}
	for _, u := range c.UIDs {
		assert.False(t, held[u], "uid %d twice", u)
		held[u] = true
	}
	for _, m := range rep.Miners[:i] {
		for _, u := range m.UIDs {
			assert.False(t, held[u], "uid %d is the churner's", u)
		}
	}
	var pr ParticipantReport
	for _, p := range rep.Participants {
		if p.Role == "churn" {
			pr = p
		}
	}
	assert.Equal(t, c.UIDs, pr.UIDs)
	// At least 3 honest windows per life but the last (which the end may
	// cut short), fewer than the run's.
	assert.GreaterOrEqual(t, pr.Trained, 3*(len(c.UIDs)-1))
	assert.Less(t, pr.Trained, rep.Participants[2].Trained)

	// It was paid under its first uid, then lost it (caught). What its next
	// uid earns depends on the ledger; whatever it is, it is attributed to
	// the churner (TestLivesAttribution).
	paid, caught := false, false
	for _, row := range rep.PerWindow {
		v := row.Incentive[i]
		switch {
		case !paid && v > 0:
			paid = true
		case paid && v == 0:
			caught = true
		}
	}
	assert.True(t, paid && caught, "paid, then caught: %v %v", paid, caught)
	var sum float64
	for _, row := range rep.PerWindow {
		sum += row.Incentive[i]
	}
	assert.InDelta(t, sum, c.TotalIncentive, 1e-9)

	runtime.GOMAXPROCS(2)
	o.Dir = t.TempDir()
	again2 := run(t, o)
	runtime.GOMAXPROCS(prev)
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(again2)
	assert.JSONEq(t, string(a), string(b), "the same seed gives the same report")
}

// runParams are the Params of a run with o.
func runParams(t *testing.T, o Options) *bistro.Params {
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: o.PageLength, HeldOut: o.HeldOut})
	require.NoError(t, err)
	cfg, genesis, _, err := model(o)
	require.NoError(t, err)
	gd, err := bistro.ThetaHash(genesis)
	require.NoError(t, err)
	p := networkParams(o, ds, cfg, gd)
	return &p
}

// relDist is ‖a − b‖ / ‖b‖.
func relDist(a, b [][]float32) float64 {
	var d, n float64
	for t := range a {
		for i := range a[t] {
			x := float64(a[t][i]) - float64(b[t][i])
			d += x * x
			n += float64(b[t][i]) * float64(b[t][i])
		}
	}
	return math.Sqrt(d / n)
}

// TestLivesAttribution: a miner's incentive in a window is the sum over the
// uids it held by then; a fresh uid counts from the block it took over.
func TestLivesAttribution(t *testing.T) {
	pt := &participant{lives: []incarnation{{uid: 3}, {uid: 7, from: 60}, {uid: 9, from: 90}}}
	inc := []float64{0, 0, 0, 0.25, 0, 0, 0, 0.5, 0, 0.125}
	uids := func(ls []incarnation) (out []bistro.UID) {
		for _, l := range ls {
			out = append(out, l.uid)
		}
		return out
	}
	assert.Equal(t, []bistro.UID{3}, uids(pt.livesAt(59)))
	assert.Equal(t, []bistro.UID{3, 7}, uids(pt.livesAt(60)))
	assert.Equal(t, []bistro.UID{3, 7, 9}, uids(pt.livesAt(200)))
	assert.Equal(t, 0.25, incentiveOf(inc, pt.livesAt(59)))
	assert.Equal(t, 0.875, incentiveOf(inc, pt.livesAt(200)))
	assert.Equal(t, 0.25, incentiveOf(inc[:5], pt.livesAt(200)), "uids past the chain's list earn nothing yet")
}
