package train_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/trainertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallGPT is the config of the contract suite and the determinism tests:
// byte-level, two blocks of two heads, width 32, context 16 (34,816
// parameters), small enough for ~20 updates in well under a second.
func smallGPT(t testing.TB) (bistro.ModelConfig, train.GPT) {
	t.Helper()
	cfg, err := train.NewGPTConfig(256, 16, 32, 2, 2, 0)
	require.NoError(t, err)
	tr, err := train.NewGPT(cfg)
	require.NoError(t, err)
	return cfg, tr
}

func TestGPTContract(t *testing.T) {
	cfg, tr := smallGPT(t)
	trainertest.Run(t, trainertest.Config{
		Trainer: tr,
		Model:   cfg,
		Init: func(cfg bistro.ModelConfig) (bistro.Model, error) {
			return train.InitGPT(cfg, seed)
		},
		// Pages of 40 tokens (three sequences, the last one short) and one
		// of exactly Context+1.
		Pages: append(opticsPages(t, 40, 10, 2), opticsPages(t, 17, 300, 1)...),
		LR:    1,
		Clip:  1,
	})
}

func TestGPTPresets(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     bistro.ModelConfig
		params  uint64
		tensors int
		shapes  map[string][]int
	}{
		{"tiny", train.GPTTiny(), 3_257_856, 4 + 12*4, map[string][]int{
			"wte.weight": {256, 256}, "wpe.weight": {128, 256}, "h.3.mlp.c_proj.weight": {1024, 256},
		}},
		{"gpt2-small", train.GPT2Small(), 124_439_808, 4 + 12*12, map[string][]int{
			"wte.weight": {50257, 768}, "wpe.weight": {1024, 768},
			"h.0.ln_1.weight": {768}, "h.0.attn.c_attn.weight": {768, 2304}, "h.0.attn.c_attn.bias": {2304},
			"h.11.attn.c_proj.weight": {768, 768}, "h.11.mlp.c_fc.weight": {768, 3072},
			"h.11.mlp.c_proj.weight": {3072, 768}, "ln_f.bias": {768},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, train.GPTArch, c.cfg.Arch)
			assert.Equal(t, c.params, c.cfg.Parameters, "GPT-2 124M has 124,439,808 parameters with the head tied")
			l, err := train.GPTLayout(c.cfg)
			require.NoError(t, err)
			require.Len(t, l, c.tensors)
			assert.Equal(t, c.params, l.Len())
			for name, shape := range c.shapes {
				i := l.Index(name)
				require.GreaterOrEqual(t, i, 0, name)
				assert.Equal(t, shape, l[i].Shape, name)
			}
			// The order of Hugging Face's state_dict.
			assert.Equal(t, []string{"wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias",
				"h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight",
				"h.0.attn.c_proj.bias", "h.0.ln_2.weight", "h.0.ln_2.bias", "h.0.mlp.c_fc.weight",
				"h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight", "h.0.mlp.c_proj.bias", "h.1.ln_1.weight"},
				names(l[:15]))
			assert.Equal(t, []string{"ln_f.weight", "ln_f.bias"}, names(l[len(l)-2:]))
			_, err = train.NewGPT(c.cfg)
			require.NoError(t, err)
		})
	}
}

func names(l bistro.Layout) []string {
	out := make([]string, len(l))
	for i, t := range l {
		out[i] = t.Name
	}
	return out
}

func TestGPTConfigErrors(t *testing.T) {
	good, err := train.NewGPTConfig(256, 16, 32, 2, 2, 0)
	require.NoError(t, err)
	assert.Equal(t, uint32(128), good.Hidden, "hidden 0 means 4·embed")
	for _, c := range []struct {
		name string
		edit func(*bistro.ModelConfig)
	}{
		{"arch", func(c *bistro.ModelConfig) { c.Arch = train.MLPArch }},
		{"vocab", func(c *bistro.ModelConfig) { c.Vocab = 1 }},
		{"context", func(c *bistro.ModelConfig) { c.Context = 0 }},
		{"embed", func(c *bistro.ModelConfig) { c.Embed = 0 }},
		{"hidden", func(c *bistro.ModelConfig) { c.Hidden = 0 }},
		{"layers", func(c *bistro.ModelConfig) { c.Layers = 0 }},
		{"heads zero", func(c *bistro.ModelConfig) { c.Heads = 0 }},
		{"heads not dividing", func(c *bistro.ModelConfig) { c.Heads = 3 }},
		{"parameters", func(c *bistro.ModelConfig) { c.Parameters++ }},
	} {
		cfg := good
		c.edit(&cfg)
		_, err := train.GPTLayout(cfg)
		assert.ErrorIs(t, err, train.ErrConfig, c.name)
		_, err = train.NewGPT(cfg)
		assert.ErrorIs(t, err, train.ErrConfig, c.name)
		_, err = train.InitGPT(cfg, seed)
		assert.ErrorIs(t, err, train.ErrConfig, c.name)
	}
}

func TestGPTInit(t *testing.T) {
	cfg := train.GPTTiny()
	m, err := train.InitGPT(cfg, seed)
	require.NoError(t, err)
	again, err := train.InitGPT(cfg, seed)
	require.NoError(t, err)
	requireSameBits(t, m.Flat(), again.Flat(), "InitGPT is a function of the seed")
	other, err := train.InitGPT(cfg, bistro.Hash{1})
	require.NoError(t, err)
	assert.NotEqual(t, m.Flat()[:8], other.Flat()[:8])

	std := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s / float64(len(v)))
	}
	for t2, spec := range m.Layout() {
		v := m.Tensor(t2)
		switch name := spec.Name; name {
		case "ln_f.weight", "h.0.ln_1.weight", "h.3.ln_2.weight":
			assert.Equal(t, float32(1), v[0], name)
			assert.Equal(t, 1.0, std(v), name)
		case "ln_f.bias", "h.0.attn.c_attn.bias", "h.2.mlp.c_fc.bias":
			assert.Equal(t, 0.0, std(v), name)
		case "wte.weight", "h.1.attn.c_attn.weight", "h.1.mlp.c_fc.weight":
			assert.InDelta(t, 0.02, std(v), 0.001, name)
		case "h.1.attn.c_proj.weight", "h.1.mlp.c_proj.weight":
			assert.InDelta(t, 0.02/math.Sqrt(8), std(v), 0.0005, name)
		}
	}
}

// The byte-level preset itself: the loss at θ₀ on a page of a full context
// is ln(256) within 0.05 nats, and three updates on a fixed shorter page
// (33 tokens, to keep the test fast) lower its loss each time.
func TestGPTTinyTrains(t *testing.T) {
	cfg := train.GPTTiny()
	tr, err := train.NewGPT(cfg)
	require.NoError(t, err)
	m, err := train.InitGPT(cfg, seed)
	require.NoError(t, err)
	ctx := context.Background()
	first, err := tr.Loss(ctx, m, opticsPages(t, int(cfg.Context)+1, 40, 1))
	require.NoError(t, err)
	assert.InDelta(t, math.Log(256), first, 0.05, "loss at init")

	pages := opticsPages(t, 33, 500, 1)
	loss, err := tr.Loss(ctx, m, pages)
	require.NoError(t, err)
	for i := range 3 {
		d, err := tr.Update(ctx, m, pages, 0.5, 1)
		require.NoError(t, err)
		for ti, v := range gatherAllByTensor(t, d) {
			require.NoError(t, m.Apply(ti, allIndices(len(v)), v))
		}
		next, err := tr.Loss(ctx, m, pages)
		require.NoError(t, err)
		t.Logf("update %d: loss %.4f → %.4f", i+1, loss, next)
		assert.Less(t, next, loss, "update %d", i+1)
		loss = next
	}
}

// The bits of Δ and of the loss do not depend on GOMAXPROCS or Workers.
func TestGPTDeterministicAcrossProcs(t *testing.T) {
	cfg, tr := smallGPT(t)
	m, err := train.InitGPT(cfg, seed)
	require.NoError(t, err)
	pages := opticsPages(t, 50, 20, 3) // 3 pages × 4 sequences
	ctx := context.Background()
	var want []float32
	var wantLoss float64
	for _, c := range []struct{ procs, workers int }{{1, 0}, {2, 0}, {2, 3}, {1, 5}} {
		t.Run(fmt.Sprintf("procs=%d,workers=%d", c.procs, c.workers), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.procs))
			tr.Workers = c.workers
			d, err := tr.Update(ctx, m, pages, 0.5, 1)
			require.NoError(t, err)
			got := gatherAll(t, d)
			loss, err := tr.Loss(ctx, m, pages)
			require.NoError(t, err)
			if want == nil {
				want, wantLoss = got, loss
				return
			}
			requireSameBits(t, want, got, "Δ")
			assert.Equal(t, math.Float64bits(wantLoss), math.Float64bits(loss), "loss")
		})
	}
}

// wrapped is a bistro.Model that is not a *bistro.MemModel, so the trainer
// reads it tensor by tensor.
type wrapped struct{ bistro.Model }

func TestGPTOtherModels(t *testing.T) {
	cfg, tr := smallGPT(t)
	m, err := train.InitGPT(cfg, seed)
	require.NoError(t, err)
	pages := opticsPages(t, 20, 5, 1)
	ctx := context.Background()
	a, err := tr.Update(ctx, m, pages, 0.5, 1)
	require.NoError(t, err)
	b, err := tr.Update(ctx, wrapped{m}, pages, 0.5, 1)
	require.NoError(t, err)
	requireSameBits(t, gatherAll(t, a), gatherAll(t, b), "Δ of a model read tensor by tensor")

	// A model of another layout, or another GPT config, is refused.
	mlp, err := train.InitMLP(config(t, 4, 8, 16), seed)
	require.NoError(t, err)
	_, err = tr.Update(ctx, mlp, pages, 0.5, 1)
	assert.ErrorIs(t, err, bistro.ErrLayout)
	_, err = tr.Loss(ctx, mlp, pages)
	assert.ErrorIs(t, err, bistro.ErrLayout)
	wider, err := train.NewGPTConfig(256, 16, 32, 2, 4, 0) // same layout, other heads
	require.NoError(t, err)
	_, err = tr.NewModel(wider)
	assert.ErrorIs(t, err, train.ErrConfig)
	_, err = tr.Update(ctx, nil, pages, 0.5, 1)
	assert.Error(t, err)

	// The zero GPT is refused, not a panic.
	var zero train.GPT
	_, err = zero.Update(ctx, m, pages, 0.5, 1)
	assert.Error(t, err)
	_, err = zero.NewModel(cfg)
	assert.Error(t, err)

	// Pages: none, one token, a token out of the vocabulary.
	for _, bad := range [][][]int32{nil, {{1}}, {{1, 256}}} {
		_, err = tr.Update(ctx, m, bad, 0.5, 1)
		assert.ErrorIs(t, err, train.ErrPage)
	}
	for _, lr := range []float64{-1, math.NaN(), math.Inf(1)} {
		_, err = tr.Update(ctx, m, pages, lr, 1)
		assert.Error(t, err, "lr %v", lr)
	}
	_, err = tr.Update(ctx, m, pages, 0.5, 0)
	assert.Error(t, err, "clip 0")
}
