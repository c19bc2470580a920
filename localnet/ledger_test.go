package localnet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifiedWorkPaysOnlyWork runs the default ledger on a whole network
// long enough for credit to vest: every adversary — free riders, a partial
// and an intermittent worker, a hit-and-run, a churner — earns less per unit
// of compute than every honest miner, the partial and intermittent workers
// less than their compute share, and against the free riders (compute ≤ 0.1)
// honest miners hold at least 95% of the incentive.
func TestVerifiedWorkPaysOnlyWork(t *testing.T) {
	o := smallOptions(t, 48)
	o.Adversaries = []Adversary{Lazy{}, Zero{}, Copy{}, CopyNoise{}, HitAndRun{}, Partial{}, Intermittent{}, Churn{}}
	rep := run(t, o)
	require.True(t, rep.DigestsAgree, "%v", rep.Disagreements)
	assert.Less(t, rep.LossLast, rep.LossFirst)

	minHonest := 1e9
	var honestPay, honestCompute float64
	for _, m := range rep.Miners {
		if m.Role == "honest" {
			require.NotNil(t, m.RewardPerCompute)
			minHonest = min(minHonest, *m.RewardPerCompute)
			honestPay += m.TotalIncentive
			honestCompute += m.Compute
		}
	}
	require.Positive(t, minHonest, "honest miners are paid")
	for _, m := range rep.Miners {
		if m.Role == "honest" {
			continue
		}
		if m.RewardPerCompute == nil {
			t.Errorf("%s is paid without computing (%.3f)", m.Role, m.TotalIncentive)
			continue
		}
		assert.Less(t, *m.RewardPerCompute, minHonest, "%s earns less per unit of compute than every honest miner", m.Role)
		if m.Role == "partial" || m.Role == "intermittent" {
			assert.Less(t, m.TotalIncentive, m.Compute*honestPay/honestCompute, "%s earns less than its compute share", m.Role)
		}
	}
	free := 0.0
	for _, m := range rep.Miners {
		if m.Role != "honest" && m.Compute <= 0.1 {
			free += m.TotalIncentive
		}
	}
	assert.GreaterOrEqual(t, honestPay/(honestPay+free), 0.95, "honest miners' share against the free riders")
}
