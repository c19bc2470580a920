package localnet

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bistro-go/bistro"
)

// Adversary is a kind of miner that deviates from the protocol. It returns
// the MinerStrategy a miner of its kind runs; Env gives it what it may use.
// A user adds one in a few lines:
//
//	type halfLazy struct{}
//	func (halfLazy) Name() string { return "half-lazy" }
//	func (halfLazy) Strategy(env localnet.Env) bistro.MinerStrategy {
//		return &localnet.Funcs{TrainFunc: func(w uint64) bool { return w%2 == 0 }}
//	}
type Adversary interface {
	Name() string
	Strategy(env Env) bistro.MinerStrategy
}

// Env is what an adversary's strategy may use.
type Env struct {
	Params *bistro.Params
	Layout bistro.Layout
	// Signer is the adversary's own hotkey.
	Signer bistro.Signer
	// Peers are the honest miners' buckets, to copy from.
	Peers []PeerBucket
	// Alt is a second store whose objects the adversary's bucket serves to
	// every reader but the lead (equivocation).
	Alt bistro.Storage
	// Seed is the adversary's private randomness.
	Seed bistro.Hash
}

// PeerBucket is another miner's bucket.
type PeerBucket struct {
	Hotkey bistro.Hotkey
	Bucket bistro.Storage
}

// Funcs is a MinerStrategy from functions; nil ones behave honestly.
type Funcs struct {
	TrainFunc func(w uint64) bool
	SliceFunc func(ctx context.Context, f *bistro.File, idx bistro.Indices) error
	DelayFunc func(w uint64) uint64
}

// Train calls TrainFunc (true when nil).
func (s *Funcs) Train(w uint64) bool { return s.TrainFunc == nil || s.TrainFunc(w) }

// Slice calls SliceFunc.
func (s *Funcs) Slice(ctx context.Context, f *bistro.File, idx bistro.Indices) error {
	if s.SliceFunc == nil {
		return nil
	}
	return s.SliceFunc(ctx, f, idx)
}

// UploadDelay calls DelayFunc (0 when nil).
func (s *Funcs) UploadDelay(w uint64) uint64 {
	if s.DelayFunc == nil {
		return 0
	}
	return s.DelayFunc(w)
}

var builtins = map[string]Adversary{}

func register(a Adversary) { builtins[a.Name()] = a }

func init() {
	for _, a := range []Adversary{Lazy{}, Noise{}, Copy{}, Late{}, Poison{}, Stale{}, Equivocate{}} {
		register(a)
	}
}

// Builtin returns the built-in adversary called name.
func Builtin(name string) (Adversary, error) {
	a, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("localnet: unknown adversary %q (have %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return a, nil
}

// BuiltinNames lists the built-in adversaries.
func BuiltinNames() []string {
	var out []string
	for n := range builtins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// zeros returns tensors of the slice's shape, filled by fill(t, i).
func filled(idx bistro.Indices, fill func(t, i int) float32) [][]float32 {
	out := make([][]float32, len(idx))
	for t, ix := range idx {
		out[t] = make([]float32, len(ix))
		for i := range out[t] {
			out[t][i] = fill(t, i)
		}
	}
	return out
}

// Lazy uploads Δ = 0 without computing anything.
type Lazy struct{}

// Name is "lazy".
func (Lazy) Name() string { return "lazy" }

// Strategy trains never and uploads zeros.
func (Lazy) Strategy(Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		SliceFunc: func(_ context.Context, f *bistro.File, idx bistro.Indices) error {
			f.Tensors = filled(idx, func(int, int) float32 { return 0 })
			return nil
		},
	}
}

// Noise uploads random values of a plausible norm (half the bound) without
// computing anything.
type Noise struct{}

// Name is "noise".
func (Noise) Name() string { return "noise" }

// Strategy trains never and uploads noise.
func (Noise) Strategy(env Env) bistro.MinerStrategy {
	r := bistro.NewRand(env.Seed)
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		SliceFunc: func(_ context.Context, f *bistro.File, idx bistro.Indices) error {
			v := filled(idx, func(int, int) float32 { return float32(float64(r.Below(2001))/1000 - 1) })
			scale := 0.5 * env.Params.LR.At(f.Window) * env.Params.ClipNorm / bistro.Norm(v)
			for _, t := range v {
				for i := range t {
					t[i] = float32(float64(t[i]) * scale)
				}
			}
			f.Tensors = v
			return nil
		},
	}
}

// Copy uploads another miner's slice under its own key, one block after the
// victim uploaded, without computing anything.
type Copy struct{}

// Name is "copy".
func (Copy) Name() string { return "copy" }

// Strategy copies the first honest peer's slice.
func (Copy) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		DelayFunc: func(uint64) uint64 { return 1 },
		SliceFunc: func(ctx context.Context, f *bistro.File, idx bistro.Indices) error {
			if len(env.Peers) == 0 {
				return fmt.Errorf("localnet: copy: no one to copy")
			}
			victim := env.Peers[0]
			key := bistro.SliceKey(env.Params.NetUID, f.Window, victim.Hotkey)
			b, err := victim.Bucket.Get(ctx, key, 1<<30)
			if err != nil {
				return err
			}
			vf, _, _, err := bistro.Inspect(b, 1<<30)
			if err != nil {
				return err
			}
			f.Tensors = vf.Tensors
			return nil
		},
	}
}

// Late computes honestly and uploads one block after the deadline.
type Late struct{}

// Name is "late".
func (Late) Name() string { return "late" }

// Strategy uploads after the deadline.
func (Late) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{DelayFunc: func(uint64) uint64 { return env.Params.Grace + 1 }}
}

// Poison uploads huge finite values (±1e30) without computing anything.
type Poison struct{}

// Name is "poison".
func (Poison) Name() string { return "poison" }

// Strategy uploads ±1e30.
func (Poison) Strategy(Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		SliceFunc: func(_ context.Context, f *bistro.File, idx bistro.Indices) error {
			f.Tensors = filled(idx, func(t, i int) float32 { return float32(1e30 * (1 - 2*float64((t+i)%2))) })
			return nil
		},
	}
}

// Stale computes and uploads an update but names the previous window's base
// digest, as a miner that has not applied the last aggregate would.
type Stale struct{}

// Name is "stale".
func (Stale) Name() string { return "stale" }

// Strategy names an old base.
func (Stale) Strategy(env Env) bistro.MinerStrategy {
	var last bistro.Hash
	return &Funcs{SliceFunc: func(_ context.Context, f *bistro.File, _ bistro.Indices) error {
		cur := f.Base
		if last.IsZero() || last == cur {
			f.Base = bistro.Hash{0x57, 0xa1, 0xe}
		} else {
			f.Base = last
		}
		last = cur
		return nil
	}}
}

// Equivocate computes honestly, serves that slice to the lead, and a
// different signed slice (the update halved: plausible, within every bound)
// to every other reader.
type Equivocate struct{}

// Name is "equivocate".
func (Equivocate) Name() string { return "equivocate" }

// Strategy writes the second version into Env.Alt.
func (Equivocate) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{SliceFunc: func(ctx context.Context, f *bistro.File, _ bistro.Indices) error {
		if f.Tensors == nil || env.Alt == nil {
			return nil
		}
		alt := *f
		alt.Tensors = make([][]float32, len(f.Tensors))
		for t, v := range f.Tensors {
			alt.Tensors[t] = make([]float32, len(v))
			for i, x := range v {
				alt.Tensors[t][i] = x / 2
			}
		}
		b, err := bistro.Encode(&alt, env.Layout, env.Signer)
		if err != nil {
			return err
		}
		key := bistro.SliceKey(env.Params.NetUID, f.Window, env.Signer.Hotkey())
		return env.Alt.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
	}}
}
