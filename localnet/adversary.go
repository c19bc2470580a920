package localnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
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

// Env is what an adversary's strategy may use: everything a real miner has —
// its keys, a replica (the Updater capability), a trainer and the dataset,
// every bucket, the chain — and the attacker's extras: the time of its upload
// (UploadDelay), a second face for its bucket (Alt), and fresh hotkeys
// (Register).
type Env struct {
	Params *bistro.Params
	Layout bistro.Layout
	// Signer is the adversary's own hotkey; UID its uid.
	Signer bistro.Signer
	UID    bistro.UID
	// Peers are the honest miners' buckets at the start of the run.
	//
	// Deprecated: a real attacker does not know who is honest; find
	// victims with ListPeers and read them through Buckets.
	Peers []PeerBucket
	// Alt is a second store whose objects the adversary's bucket serves to
	// every reader but the lead (equivocation); set for Equivocate only.
	Alt bistro.Storage
	// Seed is the adversary's private randomness (fresh per hotkey). Every
	// random choice of a built-in comes from it, so a run is reproducible.
	Seed bistro.Hash

	// Trainer is a fresh trainer of the run's architecture, the strategy's
	// own (not the miner's): with the replica an Updater is handed and
	// Dataset it computes on any pages (bistro.NewPages, bistro.MinerPages).
	Trainer bistro.Trainer
	Dataset bistro.Dataset
	// Buckets opens any participant's bucket from its commitment, exactly as
	// the miner's own view does: objects are visible from the block after
	// they were written (slices, aggregates, used copies, manifests,
	// checkpoints).
	Buckets bistro.Buckets
	// Chain reads the chain: neurons, commitments, the last epoch's
	// incentive, the head. ListPeers combines it with Buckets.
	Chain ChainView
	// Register asks for a fresh hotkey for this participant. The network
	// registers it on chain at the next block (paying the chain's
	// registration cost: subtensor.Local charges none) and hands the
	// participant over to it at the first block of the window after: a new
	// miner with its own uid, bucket and commitment, which catches up as a
	// late joiner does (the latest checkpoint, then the aggregates since)
	// and runs the strategy Adversary.Strategy returns for the new hotkey's
	// Env. The current miner stops there. Register returns the new hotkey;
	// calling it again before the handover returns the same one. The report
	// counts every uid the participant held as its own.
	Register func(ctx context.Context) (bistro.Hotkey, error)
}

// ChainView is the chain as a participant reads it: the metagraph as of a
// block, commitments, the last epoch's incentive per uid and the current
// head. *subtensor.Local implements it.
type ChainView interface {
	bistro.Metagraph
	// Commitment returns hotkey's latest commitment in a produced block, or
	// bistro.ErrNotFound.
	Commitment(ctx context.Context, netuid uint16, hotkey bistro.Hotkey) ([][]byte, bistro.Block, error)
	// Incentive returns the last epoch's incentive of every uid (0 for uids
	// registered since).
	Incentive(netuid uint16) []float64
	// Head returns the current head: the block the network is stepping.
	Head() bistro.Head
}

var _ ChainView = (*subtensor.Local)(nil)

// PeerBucket is another miner's bucket.
type PeerBucket struct {
	Hotkey bistro.Hotkey
	Bucket bistro.Storage
}

// Peer is a neuron that announced a bucket for the run's Params.
type Peer struct {
	bistro.Neuron
	Commitment bistro.Commitment
}

// ListPeers returns the neurons at the current head that announced a bucket
// for the run's Params, sorted by uid, the adversary itself included.
func (e Env) ListPeers(ctx context.Context) ([]Peer, error) {
	if e.Chain == nil {
		return nil, fmt.Errorf("localnet: Env has no Chain")
	}
	ns, err := e.Chain.Neurons(ctx, e.Params.NetUID, e.Chain.Head().Number)
	if err != nil {
		return nil, err
	}
	digest := e.Params.Digest()
	var out []Peer
	for _, n := range ns {
		fields, _, err := e.Chain.Commitment(ctx, e.Params.NetUID, n.Hotkey)
		if errors.Is(err, bistro.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := bistro.ParseCommitment(fields)
		if err != nil || c.Params != digest {
			continue
		}
		out = append(out, Peer{n, c})
	}
	return out, nil
}

// PeerSlice reads p's slice of window w through Buckets: bistro.ErrNotFound
// (wrapped) until it is visible. The slice must be signed by p and name w.
func (e Env) PeerSlice(ctx context.Context, w uint64, p Peer) (*bistro.File, error) {
	st, err := e.Buckets.Open(ctx, p.Hotkey, p.Commitment)
	if err != nil {
		return nil, err
	}
	b, err := st.Get(ctx, bistro.SliceKey(e.Params.NetUID, w, p.Hotkey), maxSliceBytes)
	if err != nil {
		return nil, err
	}
	f, _, ok, err := bistro.Inspect(b, maxSliceBytes)
	switch {
	case err != nil:
		return nil, err
	case !ok || f.Kind != bistro.KindSlice || f.Window != w || f.Hotkey != p.Hotkey:
		return nil, fmt.Errorf("localnet: slice of window %d by uid %d is not one", w, p.UID)
	}
	return f, nil
}

// maxSliceBytes bounds the slices adversaries read.
const maxSliceBytes = 1 << 30

// VictimSlice returns the slice of window w of the best-paid miner whose
// slice is visible: among the peers without a validator permit, other than
// the adversary, by incentive (highest first), then uid. It is
// bistro.ErrNotFound (wrapped) while none is visible.
func (e Env) VictimSlice(ctx context.Context, w uint64) (*bistro.File, Peer, error) {
	ps, err := e.ListPeers(ctx)
	if err != nil {
		return nil, Peer{}, err
	}
	me := e.Signer.Hotkey()
	ps = slices.DeleteFunc(ps, func(p Peer) bool { return p.ValidatorPermit || p.Hotkey == me })
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Incentive > ps[j].Incentive })
	for _, p := range ps {
		f, err := e.PeerSlice(ctx, w, p)
		if err == nil {
			return f, p, nil
		}
		if ctx.Err() != nil {
			return nil, Peer{}, ctx.Err()
		}
	}
	return nil, Peer{}, fmt.Errorf("localnet: no peer's slice of window %d is visible yet: %w", w, bistro.ErrNotFound)
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
	for _, a := range []Adversary{Lazy{}, Noise{}, Copy{}, Late{}, Poison{}, Stale{}, Equivocate{},
		Partial{}, Intermittent{Q: 0.25}, HitAndRun{K: 6}, Zero{}, CopyNoise{}, Churn{K: 3}} {
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

// filled returns tensors of the slice's shape, filled by fill(t, i).
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

// Noise uploads random values of a plausible norm without computing
// anything: half the upper bound of one SGD step (step_lr · clip_norm), or
// under adamw/v1, which has no upper bound, half the norm of a slice of one
// step that moves every coordinate by step_lr (step_lr · √(f · parameters)).
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
			p := env.Params
			target := p.StepLR(f.Window) * p.ClipNorm
			if p.InnerOptimizer.Kind == bistro.InnerAdamWV1 {
				target = p.StepLR(f.Window) * math.Sqrt(p.SliceFraction*float64(p.Model.Parameters))
			}
			scale := 0.5 * target / bistro.Norm(v)
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
// victim uploaded, without computing anything. It finds the victim as an
// attacker would: the best-paid miner whose slice of the window is visible
// (Env.VictimSlice).
type Copy struct{}

// Name is "copy".
func (Copy) Name() string { return "copy" }

// Strategy copies a peer's slice verbatim.
func (Copy) Strategy(env Env) bistro.MinerStrategy {
	return &Funcs{
		TrainFunc: func(uint64) bool { return false },
		DelayFunc: func(uint64) uint64 { return 1 },
		SliceFunc: func(ctx context.Context, f *bistro.File, _ bistro.Indices) error {
			vf, _, err := env.VictimSlice(ctx, f.Window)
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
