// Package trainertest is the contract suite of bistro.Trainer: every trainer,
// the reference ones of package train and yours, should pass it.
//
//	func TestMyTrainer(t *testing.T) {
//		trainertest.Run(t, trainertest.Config{
//			Trainer: mytrainer.New(),
//			Model:   cfg,
//			Init:    func(cfg bistro.ModelConfig) (bistro.Model, error) { return mytrainer.Init(cfg, seed) },
//			Pages:   pages,
//			LR:      0.5,
//			Clip:    1,
//		})
//	}
//
// Run checks, each as a subtest: computing Δ leaves the model unchanged;
// Gather at any indices agrees with the full Δ; Δ stays valid after the model
// changes; the same inputs give the same bits twice; a model read tensor by
// tensor and written into a fresh NewModel gives the same bits, loss and Δ;
// the loss at initialisation is near ln(Vocab); a few steps lower the loss on
// their pages; ‖Δ‖ ≤ lr·clip; a cancelled context is an error; and a token
// outside [0, Vocab) is an error, not a panic.
package trainertest

import (
	"context"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Config is what Run needs to exercise a trainer.
type Config struct {
	// Trainer is the trainer under test.
	Trainer bistro.Trainer
	// Model is the architecture; Model.Vocab bounds the tokens.
	Model bistro.ModelConfig
	// Init returns a freshly initialised (random, not zero) model for cfg;
	// every call must return the same weights.
	Init func(cfg bistro.ModelConfig) (bistro.Model, error)
	// Pages are the pages of every update and loss (at least one; tokens in
	// [0, Model.Vocab)). Keep them small: Run computes about 20 updates.
	Pages [][]int32
	// LR and Clip are the learning rate and clip norm of the updates; the
	// descent check needs LR large enough that Steps updates lower the loss.
	LR, Clip float64
	// Steps is the number of updates of the descent check; 0 means 5.
	Steps int
	// InitLossTolerance bounds |Loss(Init) − ln(Vocab)| in nats; 0 means
	// 0.5. An untrained model whose logits have a spread σ around their mean
	// has an expected loss of about ln(Vocab) + σ²/2, so 0.5 admits any init
	// with σ ≤ 1 (the usual 1/√fan_in scaling gives σ well below 1) and
	// still catches a missing normalisation, a loss summed instead of
	// averaged, or a loss in bits.
	InitLossTolerance float64
}

// Run runs the contract suite on cfg.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	require.NotNil(t, cfg.Trainer, "Config.Trainer")
	require.NotNil(t, cfg.Init, "Config.Init")
	require.NotEmpty(t, cfg.Pages, "Config.Pages")
	require.Greater(t, cfg.LR, 0.0, "Config.LR")
	require.Greater(t, cfg.Clip, 0.0, "Config.Clip")
	if cfg.Steps == 0 {
		cfg.Steps = 5
	}
	if cfg.InitLossTolerance == 0 {
		cfg.InitLossTolerance = 0.5
	}
	s := suite{Config: cfg}

	t.Run("UpdateLeavesModel", s.updateLeavesModel)
	t.Run("GatherAgrees", s.gatherAgrees)
	t.Run("UpdateOutlivesModel", s.updateOutlivesModel)
	t.Run("Deterministic", s.deterministic)
	t.Run("SaveLoad", s.saveLoad)
	t.Run("InitLoss", s.initLoss)
	t.Run("Descent", s.descent)
	t.Run("Clip", s.clip)
	t.Run("Cancel", s.cancel)
	t.Run("BadToken", s.badToken)
}

type suite struct{ Config }

func (s suite) init(t *testing.T) bistro.Model {
	t.Helper()
	m, err := s.Init(s.Model)
	require.NoError(t, err, "Init")
	return m
}

func (s suite) update(t *testing.T, m bistro.Model, lr, clip float64) bistro.Tensors {
	t.Helper()
	d, err := s.Trainer.Update(context.Background(), m, s.Pages, lr, clip)
	require.NoError(t, err, "Update")
	require.NotNil(t, d, "Update")
	return d
}

func (s suite) loss(t *testing.T, m bistro.Model) float64 {
	t.Helper()
	l, err := s.Trainer.Loss(context.Background(), m, s.Pages)
	require.NoError(t, err, "Loss")
	return l
}

// all returns the indices 0 … n−1.
func all(n int) []uint32 {
	idx := make([]uint32, n)
	for i := range idx {
		idx[i] = uint32(i)
	}
	return idx
}

// readModel returns every tensor of m, read whole.
func readModel(t *testing.T, m bistro.Model) [][]float32 {
	t.Helper()
	out := make([][]float32, len(m.Layout()))
	for i, spec := range m.Layout() {
		out[i] = make([]float32, spec.Len())
		require.NoError(t, m.Read(i, out[i]), "Read tensor %q", spec.Name)
	}
	return out
}

// gatherAll returns every tensor of d, gathered at all indices.
func gatherAll(t *testing.T, d bistro.Tensors) [][]float32 {
	t.Helper()
	out := make([][]float32, len(d.Layout()))
	for i, spec := range d.Layout() {
		out[i] = make([]float32, spec.Len())
		require.NoError(t, d.Gather(i, all(spec.Len()), out[i]), "Gather tensor %q", spec.Name)
	}
	return out
}

// sameBits reports whether a and b hold the same float32 bit patterns.
func sameBits(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

func norm(ts [][]float32) float64 {
	var s float64
	for _, v := range ts {
		for _, x := range v {
			s += float64(x) * float64(x)
		}
	}
	return math.Sqrt(s)
}

func finite(ts [][]float32) bool {
	for _, v := range ts {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return false
			}
		}
	}
	return true
}

// apply adds d to m at every index.
func apply(t *testing.T, m bistro.Model, d bistro.Tensors) {
	t.Helper()
	for i, v := range gatherAll(t, d) {
		require.NoError(t, m.Apply(i, all(len(v)), v), "Apply tensor %d", i)
	}
}

func (s suite) updateLeavesModel(t *testing.T) {
	m := s.init(t)
	before := readModel(t, m)
	d := s.update(t, m, s.LR, s.Clip)
	assert.True(t, sameBits(before, readModel(t, m)), "Update changed the model")
	assert.Equal(t, m.Layout(), d.Layout(), "Δ has another layout than the model")
	_, err := s.Trainer.Loss(context.Background(), m, s.Pages)
	require.NoError(t, err)
	assert.True(t, sameBits(before, readModel(t, m)), "Loss changed the model")
}

func (s suite) gatherAgrees(t *testing.T) {
	m := s.init(t)
	d := s.update(t, m, s.LR, s.Clip)
	full := gatherAll(t, d)
	require.True(t, finite(full), "Δ has NaN or Inf")
	require.Greater(t, norm(full), 0.0, "Δ is zero")
	for ti, spec := range d.Layout() {
		n := spec.Len()
		// Every third index backwards, then the first one twice.
		var idx []uint32
		for i := n - 1; i >= 0; i -= 3 {
			idx = append(idx, uint32(i))
		}
		idx = append(idx, 0, 0)
		got := make([]float32, len(idx))
		require.NoError(t, d.Gather(ti, idx, got))
		for k, i := range idx {
			if math.Float32bits(got[k]) != math.Float32bits(full[ti][i]) {
				t.Fatalf("tensor %q: Gather at %d = %v, full Δ has %v", spec.Name, i, got[k], full[ti][i])
			}
		}
		bad := make([]float32, 1)
		assert.Error(t, d.Gather(ti, []uint32{uint32(n)}, bad), "tensor %q: Gather past the end", spec.Name)
	}
}

func (s suite) updateOutlivesModel(t *testing.T) {
	m := s.init(t)
	d := s.update(t, m, s.LR, s.Clip)
	want := gatherAll(t, d)
	apply(t, m, d)
	assert.True(t, sameBits(want, gatherAll(t, d)), "Δ changed when the model changed")
}

func (s suite) deterministic(t *testing.T) {
	m := s.init(t)
	a := gatherAll(t, s.update(t, m, s.LR, s.Clip))
	b := gatherAll(t, s.update(t, m, s.LR, s.Clip))
	assert.True(t, sameBits(a, b), "two updates of the same model differ")
	m2 := s.init(t)
	c := gatherAll(t, s.update(t, m2, s.LR, s.Clip))
	assert.True(t, sameBits(a, c), "updates of two models from Init differ")
	assert.Equal(t, math.Float64bits(s.loss(t, m)), math.Float64bits(s.loss(t, m2)), "losses differ")
}

func (s suite) saveLoad(t *testing.T) {
	m := s.init(t)
	saved := readModel(t, m)
	fresh, err := s.Trainer.NewModel(s.Model)
	require.NoError(t, err, "NewModel")
	require.Equal(t, m.Layout(), fresh.Layout(), "NewModel and Init give other layouts")
	for i, v := range saved {
		require.NoError(t, fresh.Write(i, v), "Write tensor %d", i)
	}
	assert.True(t, sameBits(saved, readModel(t, fresh)), "Read after Write differs")
	assert.Equal(t, math.Float64bits(s.loss(t, m)), math.Float64bits(s.loss(t, fresh)), "loss after a round trip differs")
	a := gatherAll(t, s.update(t, m, s.LR, s.Clip))
	b := gatherAll(t, s.update(t, fresh, s.LR, s.Clip))
	assert.True(t, sameBits(a, b), "Δ after a round trip differs")
}

func (s suite) initLoss(t *testing.T) {
	m := s.init(t)
	l := s.loss(t, m)
	want := math.Log(float64(s.Model.Vocab))
	assert.InDelta(t, want, l, s.InitLossTolerance, "loss at init, ln(vocab) = %.4f", want)
}

func (s suite) descent(t *testing.T) {
	m := s.init(t)
	first := s.loss(t, m)
	for range s.Steps {
		apply(t, m, s.update(t, m, s.LR, s.Clip))
	}
	last := s.loss(t, m)
	assert.Less(t, last, first, "loss after %d steps of lr %v", s.Steps, s.LR)
}

func (s suite) clip(t *testing.T) {
	m := s.init(t)
	for _, clip := range []float64{s.Clip, 1e-3, 1e-6} {
		d := gatherAll(t, s.update(t, m, s.LR, clip))
		n := norm(d)
		assert.LessOrEqual(t, n, s.LR*clip*(1+1e-6), "‖Δ‖ with clip %v", clip)
		assert.Greater(t, n, 0.0, "Δ is zero with clip %v", clip)
	}
}

func (s suite) cancel(t *testing.T) {
	m := s.init(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Trainer.Update(ctx, m, s.Pages, s.LR, s.Clip)
	assert.ErrorIs(t, err, context.Canceled, "Update")
	_, err = s.Trainer.Loss(ctx, m, s.Pages)
	assert.ErrorIs(t, err, context.Canceled, "Loss")
}

func (s suite) badToken(t *testing.T) {
	m := s.init(t)
	for _, tok := range []int32{-1, int32(s.Model.Vocab)} {
		pages := make([][]int32, len(s.Pages))
		for i, p := range s.Pages {
			pages[i] = append([]int32(nil), p...)
		}
		last := pages[len(pages)-1]
		last[len(last)-1] = tok
		_, err := s.Trainer.Update(context.Background(), m, pages, s.LR, s.Clip)
		assert.Error(t, err, "Update with token %d", tok)
		_, err = s.Trainer.Loss(context.Background(), m, pages)
		assert.Error(t, err, "Loss with token %d", tok)
	}
}
