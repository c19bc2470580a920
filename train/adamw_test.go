package train

import (
	"context"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train/data"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/cpu"
)

// adamwParams are Params with only what bistro.TrainUpdate reads, under the
// adamw/v1 inner optimizer.
func adamwParams(cfg bistro.ModelConfig, h uint32) *bistro.Params {
	return &bistro.Params{Model: cfg, LR: bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.002}, ClipNorm: 1,
		SliceFraction: 0.25, LRScale: bistro.LRScaleInverseFraction, InnerSteps: h, InnerOptimizer: bistro.AdamW()}
}

// adamwCases are the H-step AdamW updates TestTrainUpdateAdamWBits pins:
// both models, H = 1, 2 and 4 (one page per step at H = 4).
type adamwCase struct {
	name  string
	cfg   bistro.ModelConfig
	gpt   bool
	h     uint32
	pages [][]int32
	want  string // updateDigest of Δ, loss 0
}

func adamwCases(t *testing.T) []adamwCase {
	t.Helper()
	optics := func(l, first, n int) [][]int32 {
		ds, err := data.OpenOptics(data.OpticsOptions{PageLength: l})
		require.NoError(t, err)
		pages := make([][]int32, n)
		for i := range pages {
			pages[i], err = ds.Page(context.Background(), uint64(first+i), nil)
			require.NoError(t, err)
		}
		return pages
	}
	mlp, err := NewMLPConfig(256, 8, 16, 128)
	require.NoError(t, err)
	return []adamwCase{
		{name: "mlp/H=1", cfg: mlp, h: 1, pages: optics(256, 100, 4),
			want: "721d7910a0a9ff64dbc8ee577df5e7ffcb41e26c0a172064fc3845cbfafc39b9"},
		{name: "mlp/H=2", cfg: mlp, h: 2, pages: optics(256, 100, 4),
			want: "63c999451824383fba4f2c0af03849d0f90a53f157559fb4bf7eb4b2e47635db"},
		{name: "mlp/H=4", cfg: mlp, h: 4, pages: optics(256, 100, 4),
			want: "fae92a2ea9ca2a102bccd10d9b5da60fe3b1ff54e2c78b724985510e0e6e63eb"},
		{name: "tiny/H=4", cfg: GPTTiny(), gpt: true, h: 4, pages: optics(129, 100, 4),
			want: "1cf63895e37aa9348db867750d1f95ffe68cf4d159e10d61de67bccdc36bce59"},
	}
}

// adamwUpdate is TrainUpdate of c on a fixed θ₀ at GOMAXPROCS procs.
func adamwUpdate(t *testing.T, c adamwCase, procs int) bistro.Tensors {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	var (
		tr  bistro.Trainer
		m   *bistro.MemModel
		err error
	)
	if c.gpt {
		var g GPT
		g, err = NewGPT(c.cfg)
		require.NoError(t, err)
		tr = g
		m, err = InitGPT(c.cfg, bistro.Hash{1, 2, 3})
	} else {
		tr = MLP{}
		m, err = InitMLP(c.cfg, bistro.Hash{1, 2, 3})
	}
	require.NoError(t, err)
	before := append([]float32(nil), m.Flat()...)
	d, err := bistro.TrainUpdate(context.Background(), adamwParams(c.cfg, c.h), tr, m, c.pages, 0)
	require.NoError(t, err)
	require.Equal(t, before, m.Flat(), "the base is not changed")
	return d
}

// TestTrainUpdateAdamWBits pins the bits of H-step adamw/v1 updates
// (SPEC.md §2.4): the same at GOMAXPROCS 1 and 2, and in every build (the
// default one and -tags purego) where TestUpdateBits's digests are pinned.
func TestTrainUpdateAdamWBits(t *testing.T) {
	defaultKernels(t)
	pinned := runtime.GOARCH == "amd64" && cpu.X86.HasAVX && cpu.X86.HasFMA
	for _, c := range adamwCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := []string{updateDigest(t, adamwUpdate(t, c, 1), 0), updateDigest(t, adamwUpdate(t, c, 2), 0)}
			require.Equal(t, got[0], got[1], "GOMAXPROCS changed the bits")
			t.Logf("digest %s", got[0])
			if pinned {
				require.Equal(t, c.want, got[0], "Δ bits changed")
			}
		})
	}
}

// The openblas build's H-step AdamW update is not the default build's bit
// for bit (OpenBLAS fuses multiply-adds), and AdamW divides each gradient
// coordinate by its own magnitude, so small differences are not scaled
// down with the gradient: this measures the difference as the scorer would
// (‖Δ_openblas − Δ_default‖/‖Δ_default‖) for GPTTiny with H = 4 under
// adamw/v1 and, for comparison, sgd; both must pass the pass/fail
// tolerance τ = 0.05 (bistro.DefaultPassFail).
func TestOpenBLASInnerSteps(t *testing.T) {
	if !haveBLAS {
		t.Skip("not the openblas build")
	}
	var c adamwCase
	for _, x := range adamwCases(t) {
		if x.gpt {
			c = x
		}
	}
	tau := bistro.DefaultPassFail().Tau
	for _, opt := range []bistro.InnerOptimizer{bistro.AdamW(), bistro.SGD()} {
		update := func(blas bool) bistro.Tensors {
			old := useBLAS
			useBLAS = blas
			defer func() { useBLAS = old }()
			tr, err := NewGPT(c.cfg)
			require.NoError(t, err)
			m, err := InitGPT(c.cfg, bistro.Hash{1, 2, 3})
			require.NoError(t, err)
			p := adamwParams(c.cfg, c.h)
			p.InnerOptimizer = opt
			if opt.Kind == bistro.InnerSGD {
				p.LR.Base = 0.05
			}
			d, err := bistro.TrainUpdate(context.Background(), p, tr, m, c.pages, 0)
			require.NoError(t, err)
			return d
		}
		def, fast := update(false), update(true)
		r := relDiff(t, fast, def)
		t.Logf("GPTTiny, H = %d, %s: ‖Δ_openblas − Δ_default‖/‖Δ_default‖ = %.3g (τ = %g)", c.h, opt.Kind, r, tau)
		require.Less(t, r, tau, "%s: an honest openblas miner would fail", opt.Kind)
		require.Greater(t, r, 0.0, "OpenBLAS gave the default build's bits: is it really on?")
	}
}
