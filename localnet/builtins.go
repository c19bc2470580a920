package localnet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/bistro-go/bistro"
)

// The free riders below use the attacker's full view (Env): a peer's slice
// read through the buckets, the replica and a trainer, the chain, fresh
// hotkeys. What each saves is its compute; what it risks is a recomputation.

// Partial trains on the first half of its pages only and uploads that
// update: half the compute, a plausible slice.
type Partial struct{}

// Name is "partial".
func (Partial) Name() string { return "partial" }

// Strategy computes the update on pages[:len/2] (bistro.Updater).
func (Partial) Strategy(env Env) bistro.MinerStrategy { return partial{env: env} }

type partial struct {
	bistro.Honest
	env Env
}

var _ bistro.Updater = partial{}

// Update runs the strategy's own trainer on the miner's replica as Params
// say (bistro.TrainUpdate), on half the pages (rounded down; no
// page gives Δ = 0).
func (s partial) Update(ctx context.Context, w uint64, base bistro.Model, pages [][]int32) (bistro.Tensors, int, error) {
	n := len(pages) / 2
	if n == 0 {
		z, err := bistro.NewMemModel(base.Layout())
		return z, 0, err
	}
	d, err := bistro.TrainUpdate(ctx, s.env.Params, s.env.Trainer, base, pages[:n], w)
	return d, n, err
}

// Intermittent is honest except in a fraction Q of windows, drawn from its
// private randomness: there it computes nothing and uploads, by a coin,
// either zeros or a peer's slice with 1% noise.
type Intermittent struct {
	// Q is the probability of skipping a window (0 means 0.25).
	Q float64
}

// Name is "intermittent".
func (Intermittent) Name() string { return "intermittent" }

// Skips reports whether the strategy with randomness seed skips window w, and
// if so whether it uploads zeros (else a noisy copy): a pure function of
// (seed, w), so a window retried is decided the same way.
func (a Intermittent) Skips(seed bistro.Hash, w uint64) (skip, zeros bool) {
	q := a.Q
	if q == 0 {
		q = 0.25
	}
	r := windowRand(seed, "intermittent", w)
	skip = uniform(r) < q
	zeros = r.Below(2) == 0
	return skip, skip && zeros
}

// Strategy skips windows as Skips decides.
func (a Intermittent) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(w uint64) bool { skip, _ := a.Skips(env.Seed, w); return !skip },
		DelayFunc: func(w uint64) uint64 {
			if skip, zeros := a.Skips(env.Seed, w); skip && !zeros {
				return 1 // the victim's slice is visible from the block after its upload
			}
			return 0
		},
		SliceFunc: func(ctx context.Context, f *bistro.File, idx bistro.Indices) error {
			if f.Tensors != nil {
				return nil
			}
			if _, zeros := a.Skips(env.Seed, f.Window); zeros {
				f.Tensors = filled(idx, func(int, int) float32 { return 0 })
				return nil
			}
			return noisyCopy(ctx, env, f)
		},
	}
}

// HitAndRun is honest for the first K windows of its life, long enough to
// pass evaluations, then never computes again and uploads a peer's slice
// with 1% noise.
type HitAndRun struct {
	// K is the honest windows (0 means 6).
	K uint64
}

// Name is "hit-and-run".
func (HitAndRun) Name() string { return "hit-and-run" }

// Strategy trains the windows [first, first+K) of the windows it is asked
// about, then copies.
func (a HitAndRun) Strategy(env Env) bistro.MinerStrategy {
	var l life
	k := a.K
	if k == 0 {
		k = 6
	}
	return &Funcs{
		TrainFunc: func(w uint64) bool { return l.age(w) < k },
		DelayFunc: func(w uint64) uint64 {
			if l.age(w) < k {
				return 0
			}
			return 1
		},
		SliceFunc: func(ctx context.Context, f *bistro.File, _ bistro.Indices) error {
			if f.Tensors != nil {
				return nil
			}
			return noisyCopy(ctx, env, f)
		},
	}
}

// Zero never computes and uploads a "plausible zero": every value ±c, signs
// from its randomness, c the smallest magnitude whose slice passes the cheap
// norm check (bistro.CheckNorm's lower bound, min_norm_factor; all zeros
// when the bound is off). Only a recomputation tells it from an update.
type Zero struct{}

// Name is "zero".
func (Zero) Name() string { return "zero" }

// Strategy uploads the smallest slice the norm check admits.
func (Zero) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		SliceFunc: func(_ context.Context, f *bistro.File, idx bistro.Indices) error {
			v, err := PlausibleZero(env.Params, f.Window, idx, windowRand(env.Seed, "zero", f.Window))
			if err != nil {
				return err
			}
			f.Tensors = v
			return nil
		},
	}
}

// PlausibleZero returns values at idx that are ±c (signs drawn from r), c
// the smallest float32 magnitude with which the slice passes
// bistro.CheckNorm for window w; all zeros when p.Checks.MinNormFactor is 0.
func PlausibleZero(p *bistro.Params, w uint64, idx bistro.Indices, r *bistro.Rand) ([][]float32, error) {
	n := 0
	for _, ix := range idx {
		n += len(ix)
	}
	lo, _ := bistro.NormBounds(p, w)
	if n == 0 || lo <= 0 {
		return filled(idx, func(int, int) float32 { return 0 }), nil
	}
	signs := filled(idx, func(int, int) float32 { return float32(1 - 2*int(r.Below(2))) })
	c := float32(lo / math.Sqrt(float64(n)))
	for range 64 {
		v := filled(idx, func(t, i int) float32 { return c * signs[t][i] })
		err := bistro.CheckNorm(p, w, v)
		if err == nil {
			return v, nil
		}
		if bistro.Norm(v) >= lo {
			return nil, fmt.Errorf("localnet: zero: no plausible zero in window %d: %w", w, err)
		}
		c = math.Nextafter32(c, 2*c) // the next float32 up
	}
	return nil, fmt.Errorf("localnet: zero: no plausible zero in window %d", w)
}

// CopyNoise never computes and uploads a peer's slice of the same window,
// read through the buckets once it is visible, with 1% noise: never a
// duplicate of the victim's bytes.
type CopyNoise struct{}

// Name is "copy-noise".
func (CopyNoise) Name() string { return "copy-noise" }

// Strategy copies the best-paid visible peer (Env.VictimSlice) with noise.
func (CopyNoise) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		DelayFunc: func(uint64) uint64 { return 1 },
		SliceFunc: func(ctx context.Context, f *bistro.File, _ bistro.Indices) error { return noisyCopy(ctx, env, f) },
	}
}

// Churn is honest for the first K windows of a hotkey's life, and past them
// until that hotkey's uid is paid (incentive > 0: a pass has vested), then
// uploads noisy copies of peers' slices (as CopyNoise). Once it is caught —
// its uid's incentive on chain is 0 after having been > 0 — it uploads
// nothing more under that hotkey, registers a fresh one (Env.Register) and
// starts over as a new miner.
type Churn struct {
	// K is the least honest windows of each life (0 means 3).
	K uint64
}

// Name is "churn".
func (Churn) Name() string { return "churn" }

// Strategy is one life of the churner: Strategy is called again for each
// fresh hotkey.
func (a Churn) Strategy(env Env) bistro.MinerStrategy {
	k := a.K
	if k == 0 {
		k = 3
	}
	return &churn{env: env, k: k, honest: map[uint64]bool{}}
}

type churn struct {
	env    Env
	k      uint64
	l      life
	honest map[uint64]bool // the windows it decided to work honestly
	paid   bool            // its uid's incentive has been > 0
	gone   bool            // it registered a fresh hotkey: this one is abandoned
}

// Train decides window w once: honest while young or not yet paid.
func (c *churn) Train(w uint64) bool {
	if c.gone {
		return false
	}
	h, ok := c.honest[w]
	if !ok {
		c.caught() // notes whether it has been paid
		h = c.l.age(w) < c.k || !c.paid
		c.honest[w] = h
		for old := range c.honest {
			if old+16 < w {
				delete(c.honest, old)
			}
		}
	}
	return h
}

func (c *churn) UploadDelay(w uint64) uint64 {
	if c.honest[w] {
		return 0
	}
	return 1 // a copy waits for the victim's slice to be visible
}

func (c *churn) Slice(ctx context.Context, f *bistro.File, _ bistro.Indices) error {
	if c.caught() && !c.gone {
		if c.env.Register == nil {
			return errors.New("localnet: churn: Env.Register is not set")
		}
		if _, err := c.env.Register(ctx); err != nil {
			return err
		}
		c.gone = true
	}
	switch {
	case c.gone:
		f.Tensors = nil // nothing more under this hotkey
		return nil
	case f.Tensors != nil:
		return nil
	}
	return noisyCopy(ctx, c.env, f)
}

// caught reads its uid's incentive: caught once it fell to 0 after being
// positive.
func (c *churn) caught() bool {
	if c.env.Chain == nil {
		return false
	}
	inc := c.env.Chain.Incentive(c.env.Params.NetUID)
	if int(c.env.UID) >= len(inc) {
		return false
	}
	if inc[c.env.UID] > 0 {
		c.paid = true
		return false
	}
	return c.paid
}

// life numbers a strategy's windows from the first it is asked about.
type life struct {
	first   uint64
	started bool
}

// age returns how many windows w comes after the first one.
func (l *life) age(w uint64) uint64 {
	if !l.started {
		l.first, l.started = w, true
	}
	if w < l.first {
		return 0
	}
	return w - l.first
}

// noisyCopy fills f with the best-paid visible peer's slice of f's window
// plus 1% noise (bistro.ErrNotFound, wrapped, while none is visible: the
// miner tries again at the next head).
func noisyCopy(ctx context.Context, env Env, f *bistro.File) error {
	vf, _, err := env.VictimSlice(ctx, f.Window)
	if err != nil {
		return err
	}
	f.Tensors = WithNoise(vf.Tensors, 0.01, windowRand(env.Seed, "noise", f.Window))
	return nil
}

// WithNoise returns v plus Gaussian noise (Box–Muller on r) scaled to norm
// rel·‖v‖. v is not changed.
func WithNoise(v [][]float32, rel float64, r *bistro.Rand) [][]float32 {
	noise := make([][]float64, len(v))
	var sq float64
	for t, x := range v {
		noise[t] = make([]float64, len(x))
		for i := range x {
			g := gaussian(r)
			noise[t][i] = g
			sq += g * g
		}
	}
	scale := 0.0
	if sq > 0 {
		scale = rel * bistro.Norm(v) / math.Sqrt(sq)
	}
	out := make([][]float32, len(v))
	for t, x := range v {
		out[t] = make([]float32, len(x))
		for i, xi := range x {
			out[t][i] = float32(float64(xi) + scale*noise[t][i])
		}
	}
	return out
}

// windowRand is a generator private to (seed, what, w): a window's draws do
// not depend on how often, or in which order, earlier windows drew.
func windowRand(seed bistro.Hash, what string, w uint64) *bistro.Rand {
	h := sha256.New()
	h.Write([]byte("bistro/localnet/adversary\x00"))
	h.Write(seed[:])
	h.Write([]byte(what))
	h.Write(binary.LittleEndian.AppendUint64(nil, w))
	var s bistro.Hash
	copy(s[:], h.Sum(nil))
	return bistro.NewRand(s)
}

// uniform returns a float64 in [0, 1) from r's top 53 bits.
func uniform(r *bistro.Rand) float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// gaussian returns a standard normal draw (Box–Muller).
func gaussian(r *bistro.Rand) float64 {
	u1 := 1 - uniform(r) // (0, 1]
	u2 := uniform(r)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
