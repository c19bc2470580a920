package train

import (
	"context"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train/data"
	"github.com/stretchr/testify/require"
)

// relDiff returns ‖a − b‖ / ‖b‖ over every tensor, in float64: the relative
// error r of the scorer (bistro's pass/fail on r ≤ τ).
func relDiff(t *testing.T, a, b bistro.Tensors) float64 {
	t.Helper()
	var num, den float64
	for i, spec := range b.Layout() {
		idx := make([]uint32, spec.Len())
		for j := range idx {
			idx[j] = uint32(j)
		}
		va, vb := make([]float32, len(idx)), make([]float32, len(idx))
		require.NoError(t, a.Gather(i, idx, va))
		require.NoError(t, b.Gather(i, idx, vb))
		for j := range va {
			d := float64(va[j]) - float64(vb[j])
			num += d * d
			den += float64(vb[j]) * float64(vb[j])
		}
	}
	return math.Sqrt(num / den)
}

// The openblas build's Δ is not the default build's bit for bit; this
// measures how far apart they are on real pages (GPTTiny on 8 Opticks pages
// of 129 bytes) as the scorer would: the relative difference must sit far
// inside the pass/fail tolerance τ = 0.05. Measured: about 2e-7.
func TestOpenBLASDelta(t *testing.T) {
	if !haveBLAS {
		t.Skip("not the openblas build")
	}
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 129})
	require.NoError(t, err)
	pages := make([][]int32, 8)
	for i := range pages {
		pages[i], err = ds.Page(context.Background(), uint64(1000+i), nil)
		require.NoError(t, err)
	}
	cfg := GPTTiny()
	tr, err := NewGPT(cfg)
	require.NoError(t, err)
	m, err := InitGPT(cfg, bistro.Hash{7})
	require.NoError(t, err)
	update := func(blas bool) bistro.Tensors {
		old := useBLAS
		useBLAS = blas
		defer func() { useBLAS = old }()
		d, err := tr.Update(context.Background(), m, pages, 0.5, 1)
		require.NoError(t, err)
		return d
	}
	def, fast := update(false), update(true)
	r := relDiff(t, fast, def)
	t.Logf("GPTTiny, 8 Opticks pages: ‖Δ_openblas − Δ_default‖/‖Δ_default‖ = %.3g", r)
	require.Less(t, r, 1e-4)
	require.Greater(t, r, 0.0, "OpenBLAS gave the default build's bits: is it really on?")
}
