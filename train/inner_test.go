package train_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
)

// innerParams are Params with only what bistro.TrainUpdate reads.
func innerParams(cfg bistro.ModelConfig, h uint32, scale string) *bistro.Params {
	return &bistro.Params{Model: cfg, LR: bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.5}, ClipNorm: 1,
		SliceFraction: 0.25, LRScale: scale, InnerSteps: h}
}

// manualInner takes the H steps of SPEC.md §2.4 by hand on a copy of m.
func manualInner(t *testing.T, tr bistro.Trainer, m *bistro.MemModel, pages [][]int32, h int, lr float64) []float32 {
	t.Helper()
	theta := m.Clone()
	for k := range h {
		lo, hi := bistro.MicroBatch(len(pages), h, k)
		d, err := tr.Update(context.Background(), theta, pages[lo:hi], lr, 1)
		require.NoError(t, err)
		for ti, v := range gatherAllByTensor(t, d) {
			require.NoError(t, theta.Apply(ti, allIndices(len(v)), v))
		}
	}
	out := make([]float32, len(m.Flat()))
	for i := range out {
		out[i] = theta.Flat()[i] - m.Flat()[i]
	}
	return out
}

// TestTrainUpdateInner: H = 1 is Trainer.Update at step_lr; H > 1 is the H
// steps of SPEC.md §2.4 bit for bit, the same at every GOMAXPROCS and worker
// count, for mlp/v1 and gpt2/v1, and the base is not changed.
func TestTrainUpdateInner(t *testing.T) {
	ctx := context.Background()
	mcfg := config(t, 4, 8, 32)
	mlp, err := train.InitMLP(mcfg, seed)
	require.NoError(t, err)
	gcfg, gtr := smallGPT(t)
	gpt, err := train.InitGPT(gcfg, seed)
	require.NoError(t, err)
	for _, c := range []struct {
		name  string
		cfg   bistro.ModelConfig
		m     *bistro.MemModel
		tr    func(workers int) bistro.Trainer
		pages [][]int32
	}{
		{"mlp", mcfg, mlp, func(w int) bistro.Trainer { return &train.MLP{Workers: w} }, opticsPages(t, 64, 3, 4)},
		{"gpt", gcfg, gpt, func(w int) bistro.Trainer { g := gtr; g.Workers = w; return &g }, opticsPages(t, 50, 20, 4)},
	} {
		before := append([]float32(nil), c.m.Flat()...)
		for _, scale := range []string{bistro.LRScaleNone, bistro.LRScaleInverseFraction} {
			for _, h := range []uint32{1, 2, 3, 4} {
				p := innerParams(c.cfg, h, scale)
				var want []float32
				if h == 1 {
					d, err := c.tr(1).Update(ctx, c.m, c.pages, p.StepLR(0), 1)
					require.NoError(t, err)
					want = gatherAll(t, d)
				} else {
					want = manualInner(t, c.tr(1), c.m, c.pages, int(h), p.StepLR(0))
				}
				for _, pw := range []struct{ procs, workers int }{{1, 1}, {2, 0}, {2, 2}, {1, 3}} {
					name := fmt.Sprintf("%s/%s/H=%d/procs=%d,workers=%d", c.name, scale, h, pw.procs, pw.workers)
					t.Run(name, func(t *testing.T) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(pw.procs))
						d, err := bistro.TrainUpdate(ctx, p, c.tr(pw.workers), c.m, c.pages, 0)
						require.NoError(t, err)
						requireSameBits(t, want, gatherAll(t, d), "Δ")
						requireSameBits(t, before, c.m.Flat(), "base unchanged")
					})
				}
			}
		}
	}
}

// BenchmarkTrainUpdateInner measures a validator's recompute of one miner's
// update (SPEC.md §2.4), under sgd and adamw/v1: H steps over the same pages
// cost about one step over all of them, plus H−1 passes over θ (sgd) or H
// passes over θ, m and v (adamw/v1).
func BenchmarkTrainUpdateInner(b *testing.B) {
	cfg, err := train.NewMLPConfig(256, 8, 16, 64)
	require.NoError(b, err)
	m, err := train.InitMLP(cfg, seed)
	require.NoError(b, err)
	pages := opticsPages(b, 256, 3, 4)
	for _, opt := range []bistro.InnerOptimizer{bistro.SGD(), bistro.AdamW()} {
		for _, h := range []uint32{1, 2, 4} {
			b.Run(fmt.Sprintf("mlp/%s/H=%d", opt.Kind, h), func(b *testing.B) {
				p := innerParams(cfg, h, bistro.LRScaleInverseFraction)
				p.InnerOptimizer = opt
				tr := &train.MLP{Workers: 1}
				for b.Loop() {
					if _, err := bistro.TrainUpdate(context.Background(), p, tr, m, pages, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
