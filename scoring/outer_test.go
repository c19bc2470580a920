package scoring_test

import (
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/scoring"
)

// TestLoadBaseNesterov: under the nesterov/v1 outer optimizer, LoadBase
// replays the aggregates with the momentum (bistro.StepState), from the
// genesis checkpoint (momentum zero) or from a later one that carries it,
// to the same θ and state digest as the live replica.
func TestLoadBaseNesterov(t *testing.T) {
	c := newChain(t)
	p := c.p
	p.OuterOptimizer = bistro.Nesterov(0.7, 0.9)
	dir := t.TempDir()
	write := func(name string, f *bistro.File) string {
		b, err := bistro.Encode(f, c.layout, c.lead)
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	theta, err := bistro.ThetaHash(c.theta0)
	require.NoError(t, err)
	genesis := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: 0, Params: p.Digest(), Base: theta, Theta: theta}
	for t := range c.layout {
		genesis.Tensors = append(genesis.Tensors, c.theta0.Tensor(t))
	}
	gpath := write("genesis.safetensors", genesis)

	live := c.theta0.Clone()
	outer, err := bistro.NewOuter(&p, c.layout)
	require.NoError(t, err)
	state := theta
	var aggs []string
	var ck3 string
	const n = 5 // aggregates of windows 0 … 4: base(6)
	for w := range n {
		if w == 2 { // base(3) = θ₀ + aggregates 0, 1: checkpoint it with its momentum
			th, err := bistro.ThetaHash(live)
			require.NoError(t, err)
			f := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: 3, Params: p.Digest(), Base: state, Theta: th}
			for t := range c.layout {
				f.Tensors = append(f.Tensors, slices.Clone(live.Tensor(t)))
				f.Momentum = append(f.Momentum, slices.Clone(outer.Momentum().Tensor(t)))
			}
			f.MomentumHash = bistro.MomentumHash(c.layout, f.Momentum)
			ck3 = write("checkpoint-3.safetensors", f)
		}
		seed := sha256.Sum256(fmt.Appendf(nil, "outer seed %d", w))
		idx, err := bistro.Slices{Fraction: p.SliceFraction, Run: p.SliceRun}.Select(seed, c.layout)
		require.NoError(t, err)
		agg := &bistro.File{Kind: bistro.KindAggregate, NetUID: p.NetUID, Window: uint64(w), Params: p.Digest(), Base: state, Seed: seed}
		for t, ix := range idx {
			v := make([]float32, len(ix))
			for i := range v {
				v[i] = float32(math.Sin(float64(w*31+t*7+i))) * 1e-2
			}
			agg.Tensors = append(agg.Tensors, v)
		}
		aggs = append(aggs, write(fmt.Sprintf("aggregate-%d.safetensors", w), agg))
		state, err = bistro.StepState(live, outer, state, idx, agg)
		require.NoError(t, err)
	}

	for _, tc := range []struct {
		name       string
		checkpoint string
		aggregates []string
	}{{"from genesis", gpath, aggs}, {"from the checkpoint of window 3", ck3, aggs[2:]}} {
		m, d, err := scoring.LoadBase(&p, c.layout, n+1, tc.checkpoint, tc.aggregates, nil)
		require.NoError(t, err, tc.name)
		assert.Equal(t, state, d, "%s: state digest", tc.name)
		assert.Equal(t, live.Flat(), m.Flat(), "%s: θ", tc.name)
	}
	// The checkpoint of window 3 is refused under sgd Params (it carries a
	// momentum they do not have); the genesis one under nesterov has none.
	_, _, err = scoring.LoadBase(&c.p, c.layout, n+1, ck3, aggs[2:], nil)
	assert.Error(t, err)
}
