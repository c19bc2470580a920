package localnet

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

// smallOptions is the smallest network that exercises the original
// adversaries: a tiny model so that the race detector stays affordable.
func smallOptions(t *testing.T, windows int) Options {
	o := DefaultOptions()
	o.Adversaries = originalSeven()
	o.Windows = windows
	o.Miners = 4
	o.Context, o.Embed, o.Hidden = 4, 8, 32
	o.PageLength = 128
	o.Dir = t.TempDir()
	return o
}

// originalSeven are the v1 built-ins: the current ledger pays honest miners
// more than every one of them. The free riders added since (partial,
// intermittent, hit-and-run, zero, copy-noise, churn) are what the ledger
// that pays only verified work answers; their tests check their mechanics.
func originalSeven() []Adversary {
	return []Adversary{Copy{}, Equivocate{}, Late{}, Lazy{}, Noise{}, Poison{}, Stale{}}
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.Len(t, rep.PerWindow, o.Windows)
	return rep
}

// TestHonestTrainingPays is the network's purpose: once every honest miner
// has been evaluated, the loss has fallen, every honest miner earns more
// than every adversary, every honest participant holds the same bits every
// window, and the lead never merged a late, poisoned, lazy, noisy, copied or
// stale slice, nor an equivocator's once proven.
func TestHonestTrainingPays(t *testing.T) {
	o := smallOptions(t, 24) // credit vests a few sampling intervals after the work
	rep := run(t, o)

	assert.True(t, rep.DigestsAgree, "%v", rep.Disagreements)
	assert.Less(t, rep.LossLast, rep.LossFirst-0.05, "held-out loss falls")

	minHonest, maxAdv := 1.0, 0.0
	for _, m := range rep.Miners {
		if m.Role == "honest" {
			assert.Positive(t, m.Evaluations, "honest uid %d was evaluated", m.UID)
			assert.Positive(t, m.Score, "honest uid %d earns", m.UID)
			minHonest = min(minHonest, m.Incentive)
		} else {
			maxAdv = max(maxAdv, m.Incentive)
			assert.Zero(t, m.Score, "%s earns nothing", m.Role)
		}
	}
	assert.Greater(t, minHonest, maxAdv, "every honest miner's incentive exceeds every adversary's")

	byRole := map[string]int{}
	for _, m := range rep.Miners {
		byRole[m.Role] = m.UID
	}
	require.NotEmpty(t, rep.Aggregates)
	equivocatorLast := -1
	for _, a := range rep.Aggregates {
		for _, role := range []string{"late", "poison", "lazy", "noise", "copy", "stale"} {
			assert.NotContains(t, a.Merged, byRole[role], "window %d merged the %s slice", a.Window, role)
		}
		if slices.Contains(a.Merged, byRole["equivocate"]) {
			equivocatorLast = a.Window
		}
	}
	// The equivocator passes the lead's checks until another validator
	// proves it (one window to verify, one to publish the evidence).
	assert.Less(t, equivocatorLast, 4, "the equivocator is excluded once proven")
	for i, v := range rep.Validators {
		assert.Zero(t, v.Mismatches, "no validator refused an aggregate")
		if i > 0 { // the lead applies its own aggregates unchecked
			assert.Positive(t, v.Verified)
		}
	}
	assert.Equal(t, 1, rep.Validators[1].Equivocators)

	// The JSON report has the documented shape.
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var shape map[string]any
	require.NoError(t, json.Unmarshal(b, &shape))
	for _, k := range []string{"windows", "loss_first", "loss_last", "digests_agree", "miners", "honest_share"} {
		assert.Contains(t, shape, k)
	}
	for _, m := range shape["miners"].([]any) {
		miner := m.(map[string]any)
		for _, k := range []string{"hotkey", "uid", "uids", "role", "compute", "score", "incentive", "total_incentive", "reward_per_compute"} {
			assert.Contains(t, miner, k)
		}
	}

	// Lifetime accounting: the total incentive is the per-window shares
	// summed; honest miners are paid per compute as honest miners are (1 on
	// average), and take nearly all of it.
	var honestRPC float64
	for i, m := range rep.Miners {
		var sum float64
		for _, row := range rep.PerWindow {
			sum += row.Incentive[i]
		}
		assert.InDelta(t, sum, m.TotalIncentive, 1e-9)
		if m.Role == "honest" {
			require.NotNil(t, m.RewardPerCompute)
			honestRPC += *m.RewardPerCompute
		}
	}
	assert.InDelta(t, 1, honestRPC/float64(o.Miners), 1e-9)
	assert.Greater(t, rep.HonestShare, 0.8)
}

// TestDeterministic runs the same network at GOMAXPROCS 1 and 2.
func TestDeterministic(t *testing.T) {
	o := smallOptions(t, 5)
	o.Adversaries = []Adversary{Lazy{}, Equivocate{}, Copy{}}
	prev := runtime.GOMAXPROCS(1)
	a := run(t, o)
	runtime.GOMAXPROCS(2)
	o.Dir = t.TempDir()
	b := run(t, o)
	runtime.GOMAXPROCS(prev)
	assert.Equal(t, a.FinalDigest, b.FinalDigest)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	assert.JSONEq(t, string(ja), string(jb), "the same seed gives the same report")

	o.SamplerSeed = o.Seed
	o.Dir = t.TempDir()
	d := run(t, o)
	jd, _ := json.Marshal(d)
	assert.JSONEq(t, string(ja), string(jd), "SamplerSeed equal to Seed is the default")
	o.SamplerSeed = "other draws"
	o.Dir = t.TempDir()
	e := run(t, o)
	var ea, ee []int
	for i := range a.Miners {
		ea, ee = append(ea, a.Miners[i].Evaluations), append(ee, e.Miners[i].Evaluations)
	}
	assert.NotEqual(t, ea, ee, "other sampler seeds evaluate other miners")
	o.SamplerSeed = ""

	o.Seed = "another seed"
	o.Dir = t.TempDir()
	c := run(t, o)
	assert.NotEqual(t, a.FinalDigest, c.FinalDigest, "another seed, another run")
}

// TestRestartAndLateJoin kills a validator mid-run and starts it again on the
// same state folder, and starts a miner late: the validator keeps its ledger
// and follows the lead again; the miner joins from the latest checkpoint and
// its slices count.
func TestRestartAndLateJoin(t *testing.T) {
	o := smallOptions(t, 12)
	o.Adversaries = []Adversary{Lazy{}}
	o.RestartValidator = 6
	o.LateMiner = 7
	rep := run(t, o)
	assert.True(t, rep.DigestsAgree, "%v", rep.Disagreements)

	var val, late ParticipantReport
	for _, p := range rep.Participants {
		if p.Name == "Validator1" {
			val = p
		}
		if p.Name == "Miner3" {
			late = p
		}
	}
	assert.Equal(t, 1, val.Restarts)
	assert.Zero(t, rep.Validators[1].Mismatches)
	assert.Positive(t, rep.Validators[1].Verified, "the restarted validator verifies aggregates again")
	assert.Equal(t, rep.Validators[0].State, rep.Validators[1].State, "and holds the lead's state at the end")
	// The restarted validator's ledger came back from disk: it does not
	// treat every miner as never evaluated again, so its samples after the
	// restart are not all first evaluations. Its weights are still set.
	assert.Positive(t, rep.Validators[1].WeightsSet)

	assert.Positive(t, late.Uploaded, "the late miner uploads")
	assert.Less(t, late.Uploaded, 12)
	assert.Equal(t, rep.Validators[0].State, late.State, "the late miner holds the shared model")
	lateUID := late.UID
	merged := false
	for _, a := range rep.Aggregates {
		merged = merged || slices.Contains(a.Merged, lateUID)
	}
	assert.True(t, merged, "the late miner's slices are merged once it passed an evaluation")
}

// TestCustomScorerAndAdversary shows the library use: a user's Scorer and a
// user's adversary in a few lines.
func TestCustomScorerAndAdversary(t *testing.T) {
	o := smallOptions(t, 6)
	o.Adversaries = []Adversary{halfLazy{}}
	o.Ledger = LedgerMovingAverage // pays from the first pass: 6 windows are enough
	o.Scorer = func() bistro.Scorer { return bistro.Cosine{Min: 0.99} }
	rep := run(t, o)
	assert.True(t, rep.DigestsAgree)
	var adv MinerReport
	for _, m := range rep.Miners {
		if m.Role == "half-lazy" {
			adv = m
		}
	}
	assert.InDelta(t, 0.5, adv.Compute, 0.2, "it computes every other window")
	for _, m := range rep.Miners {
		if m.Role == "honest" {
			assert.Greater(t, m.Incentive, adv.Incentive)
		}
	}
}

type halfLazy struct{}

func (halfLazy) Name() string { return "half-lazy" }
func (halfLazy) Strategy(env Env) bistro.MinerStrategy {
	lazy := Lazy{}.Strategy(env)
	return &Funcs{
		TrainFunc: func(w uint64) bool { return w%2 == 0 },
		SliceFunc: func(ctx context.Context, f *bistro.File, idx bistro.Indices) error {
			if f.Tensors == nil {
				return lazy.Slice(ctx, f, idx)
			}
			return nil
		},
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, mut := range []func(o *Options){
		func(o *Options) { o.Miners = 0 },
		func(o *Options) { o.Validators = 0 },
		func(o *Options) { o.Windows = 0 },
		func(o *Options) { o.SampleSize = 0 },
		func(o *Options) { o.Hidden = 0 },
		func(o *Options) { o.PageLength = 4 },
		func(o *Options) { o.LateMiner = 100 },
		func(o *Options) { o.RestartValidator = 3; o.InMemory = true },
	} {
		o := DefaultOptions()
		mut(&o)
		_, err := Run(context.Background(), o)
		assert.Error(t, err)
	}
	_, err := Builtin("nope")
	assert.ErrorContains(t, err, "unknown adversary")
}
