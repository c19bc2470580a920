package localnet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubnetSize runs the whole stack at a subnet's size: 256 miners, two
// validators, three windows of a tiny mlp/v1 model, buckets in memory and a
// sample of two, so every validator fetches and checks 256 slices a window
// and the lead merges those of the miners it has evaluated (only those are
// eligible: SPEC.md §9). Every honest participant must hold the same bits.
func TestSubnetSize(t *testing.T) {
	o := DefaultOptions()
	o.Miners, o.Adversaries, o.Validators, o.Windows = 256, nil, 2, 3
	o.SampleSize = 2
	o.Context, o.Embed, o.Hidden = 4, 4, 8
	o.PageLength = 32
	o.InMemory = true
	rep := run(t, o)
	assert.True(t, rep.DigestsAgree, "%v", rep.Disagreements)
	require.NotEmpty(t, rep.Aggregates)
	require.Len(t, rep.Miners, 256)
	for i, v := range rep.Validators {
		// Every miner's slice passes the cheap checks every window (the
		// other validator, a candidate with no slice, is the one rejection).
		assert.Positive(t, v.Windows, "validator %d processed windows", i)
		assert.Equal(t, 256*v.Windows, v.Fetched, "validator %d fetched and checked every slice", i)
	}
	assert.Positive(t, rep.Validators[0].Led, "the lead published aggregates")
	t.Logf("validators: %+v; merged per window: %v", rep.Validators, mergedCounts(rep))
}

func mergedCounts(rep *Report) []int {
	var n []int
	for _, a := range rep.Aggregates {
		n = append(n, len(a.Merged))
	}
	return n
}
