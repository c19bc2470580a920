package localnet

import (
	"encoding/json"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

// chaosOptions is the network the chaos tests run: small enough for the race
// detector, long enough to strike at FaultWindow and recover.
// The v1 ledger pays from the first pass: incentive over 14 windows then
// measures what the faults cost, not how long verified credit takes to vest.
func chaosOptions(t *testing.T) Options {
	o := smallOptions(t, 14)
	o.Adversaries = []Adversary{Lazy{}, Copy{}, Equivocate{}}
	o.Ledger = LedgerMovingAverage
	return o
}

// TestChaos runs every named scenario against the same network without
// faults: each recovers — digests agree, nobody is stuck, the loss keeps
// falling after the fault, every validator that stayed up processed all but
// a few windows, and the honest miners' incentive summed over the run stays
// within 0.9× of the run without faults (each miner's within 0.75×: pay for
// verified work is sampled, so one miner's total over a short run is noisy).
func TestChaos(t *testing.T) {
	base := run(t, chaosOptions(t))
	require.True(t, base.DigestsAgree, "%v", base.Disagreements)
	for _, name := range Scenarios() {
		t.Run(name, func(t *testing.T) {
			o := chaosOptions(t)
			var err error
			o.Chaos, err = Scenario(name)
			require.NoError(t, err)
			rep := run(t, o)
			assert.Equal(t, name, rep.Scenario)
			assert.True(t, rep.DigestsAgree, "%v", rep.Disagreements)
			assert.Empty(t, rep.Stuck)
			assert.Less(t, rep.LossLast, rep.LossAtFault, "training goes on after the fault")
			for _, p := range rep.Participants {
				if p.Role == "validator" && !p.Down {
					assert.GreaterOrEqual(t, rep.Processed[p.Name], o.Windows-3, "%s processed", p.Name)
				}
			}
			// Verified-work pay is sampled: one miner's total over a short
			// run is noisy, the honest miners' together is not.
			got, want := lifetime(rep), lifetime(base)
			var gotHonest, wantHonest float64
			for i, m := range rep.Miners {
				if m.Role == "honest" {
					gotHonest, wantHonest = gotHonest+got[i], wantHonest+want[i]
					assert.GreaterOrEqual(t, got[i], 0.75*want[i], "honest uid %d's incentive over the run", m.UID)
				}
			}
			assert.GreaterOrEqual(t, gotHonest, 0.9*wantHonest, "the honest miners' incentive over the run")
			assert.Len(t, rep.Aggregates, o.Windows, "an aggregate for every window")
			for _, v := range rep.Validators {
				assert.Zero(t, v.Mismatches, "nobody refused an aggregate")
			}
		})
	}
}

// lifetime sums each miner's share of the incentive over the run's windows.
func lifetime(rep *Report) []float64 {
	out := make([]float64, len(rep.Miners))
	for _, row := range rep.PerWindow {
		for i, v := range row.Incentive {
			out[i] += v
		}
	}
	return out
}

// atDeadline computes honestly and uploads in the very block at whose
// finalization the validators fetch: it races their reads.
type atDeadline struct{}

func (atDeadline) Name() string { return "at-deadline" }
func (atDeadline) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{DelayFunc: func(uint64) uint64 { return env.Params.Grace }}
}

// TestDeadlineBoundaryDeterministic: an upload made in the deadline block is
// ordered after that block's reads (visible from the next block), so the
// same seed gives one final digest and one report, run after run.
func TestDeadlineBoundaryDeterministic(t *testing.T) {
	var first *Report
	for i := 0; i < 5; i++ {
		o := smallOptions(t, 6)
		o.Adversaries = []Adversary{atDeadline{}, Copy{}}
		rep := run(t, o)
		require.True(t, rep.DigestsAgree, "%v", rep.Disagreements)
		for _, m := range rep.Miners {
			if m.Role == "at-deadline" {
				assert.Zero(t, m.Score, "its slices are never on time")
				for _, a := range rep.Aggregates {
					assert.NotContains(t, a.Merged, m.UID, "window %d merged a slice uploaded at the deadline", a.Window)
				}
			}
		}
		if first == nil {
			first = rep
			continue
		}
		assert.Equal(t, first.FinalDigest, rep.FinalDigest, "run %d", i)
		ja, _ := json.Marshal(first)
		jb, _ := json.Marshal(rep)
		assert.JSONEq(t, string(ja), string(jb), "run %d gives the same report", i)
	}
}
