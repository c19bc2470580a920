package train

import (
	"context"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reference computes Δ and the mean loss in float64, each page as a single
// batch: the definition Update implements, without micro-batches, float32 or
// workers.
func reference(d dims, flat32 []float32, pages [][]int32, lr, clip float64) ([]float64, float64) {
	flat := make([]float64, len(flat32))
	for i, v := range flat32 {
		flat[i] = float64(v)
	}
	p := viewParams(d, flat)
	longest := 0
	for _, pg := range pages {
		longest = max(longest, len(pg))
	}
	n := newNet[float64](d, longest, true)
	acc := make([]float64, len(flat))
	var loss float64
	total := 0
	for _, pg := range pages {
		loss += n.step(p, pg, d.c, len(pg)-d.c)
		total += len(pg) - d.c
		for i, g := range n.grad {
			acc[i] += g
		}
	}
	var sq float64
	for i := range acc {
		acc[i] /= float64(total)
		sq += acc[i] * acc[i]
	}
	scale := min(1, clip/math.Sqrt(sq))
	for i := range acc {
		acc[i] *= -lr * scale
	}
	return acc, loss / float64(total)
}

func TestUpdateMatchesReference(t *testing.T) {
	cfg, err := NewMLPConfig(19, 3, 4, 8)
	require.NoError(t, err)
	m, err := InitMLP(cfg, bistro.Hash{1})
	require.NoError(t, err)
	d, _ := configDims(cfg)
	r := testRand(20)
	// Pages of several lengths: one micro-batch, exactly one, and three.
	var pages [][]int32
	for _, n := range []int{d.c + 1, d.c + MicroBatch, 2*MicroBatch + 77} {
		pages = append(pages, tokens(r, n, d.v))
	}
	ctx := context.Background()
	for _, clip := range []float64{1e9, 0.05} {
		want, wantLoss := reference(d, m.Flat(), pages, 0.3, clip)
		delta, err := MLP{}.Update(ctx, m, pages, 0.3, clip)
		require.NoError(t, err)
		got := delta.(*bistro.MemModel).Flat()
		var diff, norm float64
		for i := range want {
			diff += (float64(got[i]) - want[i]) * (float64(got[i]) - want[i])
			norm += want[i] * want[i]
		}
		assert.Less(t, math.Sqrt(diff/norm), 1e-5, "relative error of Δ, clip %v", clip)
		if clip < 1 {
			assert.InDelta(t, 0.3*clip, math.Sqrt(norm), 1e-12, "clipped norm")
		}
		loss, err := MLP{}.Loss(ctx, m, pages)
		require.NoError(t, err)
		assert.InDelta(t, wantLoss, loss, 1e-6)
	}
}

// At initialisation the loss is close to ln(vocab), a little above it: the
// embeddings are uniform in (−1, 1) (variance 1/3), so the hidden
// pre-activations have variance C·E · 1/3 · 1/(3·C·E) + 1/(3·C·E) ≈ 1/9 and
// E[tanh²] ≈ 0.1; the logits then have variance σ² ≈ 0.1/3 + 1/(3H) ≈ 0.036
// and the expected loss is ln(vocab) + σ²/2 ≈ ln(vocab) + 0.02.
func TestInitLoss(t *testing.T) {
	cfg, err := NewMLPConfig(256, 8, 16, 128)
	require.NoError(t, err)
	m, err := InitMLP(cfg, bistro.Hash{2})
	require.NoError(t, err)
	r := testRand(21)
	pages := [][]int32{tokens(r, 300, 256)}
	loss, err := MLP{}.Loss(context.Background(), m, pages)
	require.NoError(t, err)
	assert.InDelta(t, math.Log(256)+0.02, loss, 0.03, "ln 256 = %.4f", math.Log(256))
}
