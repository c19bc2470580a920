package train_test

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/trainertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var seed = bistro.Hash{0: 0x5e, 1: 0xed}

func config(t testing.TB, context, embed, hidden uint32) bistro.ModelConfig {
	t.Helper()
	cfg, err := train.NewMLPConfig(256, context, embed, hidden)
	require.NoError(t, err)
	return cfg
}

// opticsPages returns n training pages of length l, ids first … first+n−1.
func opticsPages(t testing.TB, l, first, n int) [][]int32 {
	t.Helper()
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: l})
	require.NoError(t, err)
	pages := make([][]int32, n)
	for i := range pages {
		pages[i], err = ds.Page(context.Background(), uint64(first+i), nil)
		require.NoError(t, err)
	}
	return pages
}

func gatherAll(t testing.TB, d bistro.Tensors) []float32 {
	t.Helper()
	var out []float32
	for i, spec := range d.Layout() {
		v := make([]float32, spec.Len())
		idx := make([]uint32, spec.Len())
		for j := range idx {
			idx[j] = uint32(j)
		}
		require.NoError(t, d.Gather(i, idx, v))
		out = append(out, v...)
	}
	return out
}

func requireSameBits(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("%s: element %d: %v != %v", msg, i, want[i], got[i])
		}
	}
}

func TestMLPContract(t *testing.T) {
	cfg := config(t, 4, 8, 32)
	trainertest.Run(t, trainertest.Config{
		Trainer: train.MLP{},
		Model:   cfg,
		Init: func(cfg bistro.ModelConfig) (bistro.Model, error) {
			return train.InitMLP(cfg, seed)
		},
		// Three pages, one longer than a micro-batch.
		Pages: append(opticsPages(t, 100, 10, 2), opticsPages(t, 300, 50, 1)...),
		LR:    0.5,
		Clip:  1,
	})
}

func TestMLPLayout(t *testing.T) {
	cfg := config(t, 3, 4, 5)
	assert.Equal(t, uint64(256*4+12*5+5+5*256+256), cfg.Parameters)
	l, err := train.MLPLayout(cfg)
	require.NoError(t, err)
	assert.Equal(t, bistro.Layout{
		{Name: "embed", Shape: []int{256, 4}},
		{Name: "hidden.w", Shape: []int{12, 5}},
		{Name: "hidden.b", Shape: []int{5}},
		{Name: "out.w", Shape: []int{5, 256}},
		{Name: "out.b", Shape: []int{256}},
	}, l)
	assert.Equal(t, cfg.Parameters, l.Len())

	for name, mutate := range map[string]func(*bistro.ModelConfig){
		"parameters": func(c *bistro.ModelConfig) { c.Parameters++ },
		"arch":       func(c *bistro.ModelConfig) { c.Arch = "gpt2/v1" },
		"vocab":      func(c *bistro.ModelConfig) { c.Vocab = 1 },
		"context":    func(c *bistro.ModelConfig) { c.Context = 0 },
		"embed":      func(c *bistro.ModelConfig) { c.Embed = 0 },
		"hidden":     func(c *bistro.ModelConfig) { c.Hidden = 1 << 30 },
		"layers":     func(c *bistro.ModelConfig) { c.Layers = 1 },
		"heads":      func(c *bistro.ModelConfig) { c.Heads = 2 },
	} {
		c := cfg
		mutate(&c)
		_, err := train.MLPLayout(c)
		assert.ErrorIs(t, err, train.ErrConfig, name)
		_, err = train.MLP{}.NewModel(c)
		assert.ErrorIs(t, err, train.ErrConfig, name)
		_, err = train.InitMLP(c, seed)
		assert.ErrorIs(t, err, train.ErrConfig, name)
	}
	_, err = train.NewMLPConfig(256, 1<<20, 1<<20, 1)
	assert.ErrorIs(t, err, train.ErrConfig, "a tensor over MaxTensorLen")
}

// The init rule of InitMLP, recomputed independently: one stream for all
// tensors in layout order, u the top 24 bits, v = (u + ½)/2^23 − 1, scaled by
// 1/√fan_in.
func TestInitMLPRule(t *testing.T) {
	cfg := config(t, 3, 4, 5)
	var s bistro.Hash
	for i := range s {
		s[i] = byte(i)
	}
	m, err := train.InitMLP(cfg, s)
	require.NoError(t, err)
	r := bistro.NewRand(s)
	scales := []float64{1, 1 / math.Sqrt(12), 1 / math.Sqrt(12), 1 / math.Sqrt(5), 1 / math.Sqrt(5)}
	for ti, scale := range scales {
		for i, got := range m.Tensor(ti) {
			u := float64(r.Uint64() >> 40)
			v := (u+0.5)/(1<<23) - 1
			want := float32(v * scale)
			require.Equal(t, math.Float32bits(want), math.Float32bits(got), "tensor %d element %d", ti, i)
			require.Less(t, math.Abs(float64(got)), scale)
		}
	}
	// Test vector for SPEC.md: seed 00 01 02 … 1f, Vocab 256, Context 3,
	// Embed 4, Hidden 5: the first element of each tensor, as float32 bits
	// (cross-checked with an independent Python xoshiro256** implementation).
	var first []uint32
	for ti := range scales {
		first = append(first, math.Float32bits(m.Tensor(ti)[0]))
	}
	assert.Equal(t, []uint32{0x3ef0963a, 0x3ca023cd, 0x3e1b03f5, 0xbdfae454, 0xbe540529}, first)

	again, err := train.InitMLP(cfg, s)
	require.NoError(t, err)
	assert.Equal(t, m.Flat(), again.Flat())
	other, err := train.InitMLP(cfg, seed)
	require.NoError(t, err)
	assert.NotEqual(t, m.Flat(), other.Flat())
}

// Update and Loss give the same bits at GOMAXPROCS 1 and 2 and with any
// number of workers.
func TestMLPDeterminism(t *testing.T) {
	cfg := config(t, 4, 8, 32)
	m, err := train.InitMLP(cfg, seed)
	require.NoError(t, err)
	// 3 pages of 600 tokens: 3 micro-batches each, 9 in all.
	pages := opticsPages(t, 600, 7, 3)
	ctx := context.Background()
	run := func(tr train.MLP) ([]float32, float64) {
		d, err := tr.Update(ctx, m, pages, 0.5, 1)
		require.NoError(t, err)
		l, err := tr.Loss(ctx, m, pages)
		require.NoError(t, err)
		return gatherAll(t, d), l
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want, wantLoss := run(train.MLP{})
	runtime.GOMAXPROCS(2)
	got, gotLoss := run(train.MLP{})
	requireSameBits(t, want, got, "GOMAXPROCS 2 against 1")
	require.Equal(t, math.Float64bits(wantLoss), math.Float64bits(gotLoss), "loss at GOMAXPROCS 2 against 1")
	for _, w := range []int{1, 4} {
		got, gotLoss := run(train.MLP{Workers: w})
		requireSameBits(t, want, got, "workers")
		require.Equal(t, math.Float64bits(wantLoss), math.Float64bits(gotLoss), "loss with %d workers", w)
	}
}

// readOnly is a bistro.Model that is not a *bistro.MemModel, so the trainer
// must Read its tensors.
type readOnly struct{ m *bistro.MemModel }

func (r readOnly) Layout() bistro.Layout                           { return r.m.Layout() }
func (r readOnly) Gather(t int, idx []uint32, dst []float32) error { return r.m.Gather(t, idx, dst) }
func (r readOnly) Read(t int, dst []float32) error                 { return r.m.Read(t, dst) }
func (readOnly) Apply(int, []uint32, []float32) error              { panic("Apply called") }
func (readOnly) Write(int, []float32) error                        { panic("Write called") }

func TestMLPAnyModel(t *testing.T) {
	cfg := config(t, 4, 8, 16)
	m, err := train.InitMLP(cfg, seed)
	require.NoError(t, err)
	pages := opticsPages(t, 64, 0, 2)
	ctx := context.Background()
	var tr train.MLP
	want, err := tr.Update(ctx, m, pages, 0.1, 1)
	require.NoError(t, err)
	got, err := tr.Update(ctx, readOnly{m}, pages, 0.1, 1)
	require.NoError(t, err)
	requireSameBits(t, gatherAll(t, want), gatherAll(t, got), "Δ of a model read through Read")
	wl, err := tr.Loss(ctx, m, pages)
	require.NoError(t, err)
	gl, err := tr.Loss(ctx, readOnly{m}, pages)
	require.NoError(t, err)
	assert.Equal(t, wl, gl)
}

func TestMLPErrors(t *testing.T) {
	cfg := config(t, 4, 8, 16)
	m, err := train.InitMLP(cfg, seed)
	require.NoError(t, err)
	pages := opticsPages(t, 64, 0, 2)
	ctx := context.Background()
	var tr train.MLP

	for _, lr := range []float64{math.NaN(), math.Inf(1), -1} {
		_, err := tr.Update(ctx, m, pages, lr, 1)
		assert.Error(t, err, "lr %v", lr)
	}
	for _, clip := range []float64{math.NaN(), math.Inf(1), 0, -1} {
		_, err := tr.Update(ctx, m, pages, 0.1, clip)
		assert.Error(t, err, "clip %v", clip)
	}
	for name, p := range map[string][][]int32{
		"no pages":      nil,
		"short page":    {pages[0], pages[1][:4]},
		"negative":      {{1, 2, 3, 4, -5}},
		"out of vocab":  {{1, 2, 3, 4, 256}},
		"context token": {{1, 256, 3, 4, 5}},
	} {
		_, err := tr.Update(ctx, m, p, 0.1, 1)
		assert.ErrorIs(t, err, train.ErrPage, name)
		_, err = tr.Loss(ctx, m, p)
		assert.ErrorIs(t, err, train.ErrPage, name)
	}
	other, err := bistro.NewMemModel(bistro.Layout{{Name: "w", Shape: []int{3}}})
	require.NoError(t, err)
	_, err = tr.Update(ctx, other, pages, 0.1, 1)
	assert.ErrorIs(t, err, bistro.ErrLayout)
	_, err = tr.Loss(ctx, nil, pages)
	assert.ErrorIs(t, err, bistro.ErrLayout)

	broken := m.Clone()
	broken.Tensor(4)[0] = float32(math.NaN())
	_, err = tr.Update(ctx, broken, pages, 0.1, 1)
	assert.ErrorContains(t, err, "not finite")

	// lr 0 is a valid, empty step.
	d, err := tr.Update(ctx, m, pages, 0, 1)
	require.NoError(t, err)
	for _, v := range gatherAll(t, d) {
		require.Zero(t, v)
	}
}
