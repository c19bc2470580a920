package localnet

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRewardPerCompute: relative to the honest miners' mean; 0 without
// pay; null in JSON and ∞ in the table for pay without compute.
func TestRewardPerCompute(t *testing.T) {
	rep := &Report{Miners: []MinerReport{
		{UID: 2, UIDs: []int{2}, Role: "honest", Compute: 1, TotalIncentive: 3},
		{UID: 3, UIDs: []int{3}, Role: "honest", Compute: 1, TotalIncentive: 1},
		{UID: 4, UIDs: []int{4, 9}, Role: "churn", Compute: 0.5, TotalIncentive: 1},
		{UID: 5, UIDs: []int{5}, Role: "copy", Compute: 0, TotalIncentive: 0.5},
		{UID: 6, UIDs: []int{6}, Role: "lazy", Compute: 0, TotalIncentive: 0},
	}}
	miners := make([]*participant, len(rep.Miners))
	for i := range miners {
		miners[i] = &participant{}
	}
	rewardPerCompute(rep, miners)
	want := []any{1.5, 0.5, 1.0, nil, 0.0}
	for i, m := range rep.Miners {
		if want[i] == nil {
			assert.Nil(t, m.RewardPerCompute, "uid %d", m.UID)
			continue
		}
		require.NotNil(t, m.RewardPerCompute, "uid %d", m.UID)
		assert.InDelta(t, want[i], *m.RewardPerCompute, 1e-12, "uid %d", m.UID)
	}
	assert.InDelta(t, 4/5.5, rep.HonestShare, 1e-12)

	b, err := json.Marshal(rep.Miners[3])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"reward_per_compute":null`)
	var out bytes.Buffer
	require.NoError(t, rep.WriteTable(&out))
	assert.Contains(t, out.String(), "∞")
	assert.Contains(t, out.String(), "4+9")
	assert.Contains(t, out.String(), "honest miners' share of the total incentive: 72.7%")
}
