package bistro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"time"
)

// Strategy ids of the consensus-critical parts that this package implements.
// Params names one id per part; a participant that does not know an id refuses
// the Params instead of guessing.
const (
	WindowV1      = "window/v1"        // window = block / B; see SPEC.md §3
	PagesV1       = "pages/v1"         // xoshiro256** over H("bistro/pages", …); SPEC.md §4
	SliceV1       = "slice/v1"         // per-tensor runs drawn from the seed; SPEC.md §5
	TrimmedMeanV1 = "trimmed-mean/v1"  // clip to c × median norm, trimmed mean; SPEC.md §8
	MeanV1        = "mean/v1"          // plain mean (tests and trusted networks)
	ConstantLR    = "constant"         // lr(w) = base
	LinearLR      = "linear-warmup/v1" // linear warmup, then linear decay to min

	LRScaleNone            = "none"                // step lr = lr(w)
	LRScaleInverseFraction = "inverse-fraction/v1" // step lr = lr(w) / f; SPEC.md §2.2

	InnerSGD     = "sgd"      // θ_{k+1} = θ_k − step_lr·clip(g_k); SPEC.md §2.4
	InnerAdamWV1 = "adamw/v1" // AdamW, state reset every window; SPEC.md §2.4

	OuterSGD        = "sgd"         // θ[idx] += a: the aggregate as is; SPEC.md §2.5
	OuterNesterovV1 = "nesterov/v1" // lazy Nesterov momentum at the touched indices; SPEC.md §2.5
)

// MaxParamsBytes bounds a Params JSON file; larger files are rejected unread.
const MaxParamsBytes = 1 << 20

// Params is the protocol configuration of one subnet, published by its owner
// as a JSON file beside the genesis checkpoint. Every field is consensus
// critical: its Digest is in every protocol file, and a file carrying another
// digest is refused. Scorer, Sampler and Ledger are validator-local and are
// deliberately not here.
type Params struct {
	// Protocol is the protocol version; this package speaks ProtocolVersion.
	Protocol uint32 `json:"protocol"`
	// NetUID is the subnet.
	NetUID uint16 `json:"netuid"`

	// BlocksPerWindow is B: window w spans blocks [w·B, (w+1)·B).
	BlocksPerWindow uint64 `json:"blocks_per_window"`
	// FirstWindow is the network's first window: its miners train on θ₀, and
	// base(w) = θ₀ + the aggregates of windows FirstWindow … w−2. A subnet
	// starts at some block of a long-running chain, so this is rarely 0.
	FirstWindow uint64 `json:"first_window"`
	// Grace is G, in blocks: slices of window w must be present when block
	// (w+1)·B+G is finalized. 0 < G < B.
	Grace uint64 `json:"grace"`
	// BlockTimeMS is the chain's target block time in milliseconds (12000 on
	// finney), 1 … MaxTimeMS.
	BlockTimeMS uint64 `json:"block_time_ms"`
	// FinalityLag is how many blocks finality trails the head, worst case
	// the subnet plans for.
	FinalityLag uint64 `json:"finality_lag"`
	// UploadTimeMS is the time in milliseconds a miner needs, after learning
	// the seed, to gather its slice, sign it and upload it; it must fit in the
	// grace period.
	UploadTimeMS uint64 `json:"upload_time_ms"`
	// MergeTimeMS is the time in milliseconds the lead needs to fetch, check
	// and merge the slices of a window and publish the aggregate; it must fit
	// between the finalized deadline and the start of the window that needs it.
	MergeTimeMS uint64 `json:"merge_time_ms"`
	// FailoverDelay is in blocks. The validators that may publish the
	// aggregate of window w are ranked (rank 0 is the lead) and publish in
	// turns: turn t belongs to rank t mod R and ends when block
	// RankDeadline(w, t) = Deadline(w) + (t+1)·FailoverDelay is finalized; a
	// rank publishes in its turn only once every earlier turn ended with no
	// aggregate (SPEC.md §2.3, §9.1). ≥ 1; FailoverDelay × BlockTimeMS ≥ MergeTimeMS gives every rank the
	// merge time, and Grace + FinalityLag + FailoverDelay ≤ BlocksPerWindow
	// finalizes the lead's deadline by the start of window w+2, which trains
	// on the aggregate.
	FailoverDelay uint64 `json:"failover_delay"`

	// PagesPerWindow is how many pages each miner trains on per window.
	PagesPerWindow uint32 `json:"pages_per_window"`
	// PageLength is the number of tokens in a page.
	PageLength uint32 `json:"page_length"`
	// DatasetPages is the number of training pages in the dataset (page ids
	// are 0 … DatasetPages−1).
	DatasetPages uint64 `json:"dataset_pages"`
	// DatasetDigest pins the dataset manifest.
	DatasetDigest Hash `json:"dataset_digest"`

	// SliceFraction is f: the share of every tensor's runs in a slice, in (0, 1].
	SliceFraction float64 `json:"slice_fraction"`
	// SliceRun is the run length: a slice is made of runs of this many
	// consecutive elements (1 = single elements).
	SliceRun uint32 `json:"slice_run"`

	// LR is the learning-rate schedule, a function of the window only.
	LR Schedule `json:"lr"`
	// ClipNorm bounds the gradient's global L2 norm before the step.
	ClipNorm float64 `json:"clip_norm"`
	// LRScale says how the learning rate of a step accounts for the slice
	// fraction f (StepLR): LRScaleNone takes lr(w) as scheduled;
	// LRScaleInverseFraction takes lr(w) / f, since applying only a
	// fraction f of every update acts like lr × f.
	LRScale string `json:"lr_scale"`
	// InnerSteps is H, 1 … PagesPerWindow: a miner's pages are split into H
	// micro-batches in order and it takes H optimizer steps from the base,
	// one per micro-batch; Δ = θ_H − θ_base (TrainUpdate, SPEC.md §2.4).
	// Validators recompute the same H steps: the same gradient work as one
	// step on every page, plus H − 1 copies of θ.
	InnerSteps uint32 `json:"inner_steps"`
	// InnerOptimizer is the optimizer of the H inner steps (SPEC.md §2.4):
	// InnerSGD, or InnerAdamWV1 whose moments start at zero every window, so
	// Δ is still a function of the base and the pages alone.
	InnerOptimizer InnerOptimizer `json:"inner_optimizer"`
	// OuterOptimizer is the rule by which every participant applies the
	// lead's aggregate a to its replica at the window's slice indices
	// (SPEC.md §2.5): OuterSGD adds a as is; OuterNesterovV1 keeps a momentum
	// buffer in the replica, updated only at the touched indices, so base(w+1)
	// still differs from base(w) only there.
	OuterOptimizer OuterOptimizer `json:"outer_optimizer"`

	// Model is the architecture; trainers read it.
	Model ModelConfig `json:"model"`
	// GenesisDigest pins θ₀: the SHA-256 of the genesis checkpoint's θ.
	GenesisDigest Hash `json:"genesis_digest"`

	// Aggregator holds the lead's merge constants.
	Aggregator AggregatorParams `json:"aggregator"`
	// Checks holds the cheap checks' bounds.
	Checks CheckParams `json:"checks"`

	// CheckpointInterval is K: the lead publishes a checkpoint every K windows.
	CheckpointInterval uint64 `json:"checkpoint_interval"`
	// Retention is how many windows of slices and aggregates are kept (≥ 2K).
	Retention uint64 `json:"retention"`

	// Strategies names the derivations every participant must share.
	Strategies Strategies `json:"strategies"`
}

// InnerOptimizer selects the optimizer of a window's inner steps and holds its
// constants. Under InnerSGD every constant must be 0 (they mean nothing
// there, and the digest covers them). Under InnerAdamWV1: 0 ≤ Beta1 < 1,
// 0 ≤ Beta2 < 1, Eps > 0, WeightDecay ≥ 0; the step is AdamWStep.
type InnerOptimizer struct {
	// Kind is InnerSGD or InnerAdamWV1.
	Kind string `json:"kind"`
	// Beta1 is the decay of the first moment m.
	Beta1 float64 `json:"beta1"`
	// Beta2 is the decay of the second moment v.
	Beta2 float64 `json:"beta2"`
	// Eps is added to √v̂ in the denominator.
	Eps float64 `json:"eps"`
	// WeightDecay is the decoupled weight decay: each step also subtracts
	// step_lr · WeightDecay · θ.
	WeightDecay float64 `json:"weight_decay"`
}

// SGD returns the InnerSGD optimizer (every constant 0).
func SGD() InnerOptimizer { return InnerOptimizer{Kind: InnerSGD} }

// AdamW returns InnerAdamWV1 with the usual constants: β1 0.9, β2 0.999,
// ε 1e-8 and weight decay 0.01.
func AdamW() InnerOptimizer {
	return InnerOptimizer{Kind: InnerAdamWV1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

func (o InnerOptimizer) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch o.Kind {
	case InnerSGD:
		if o.Beta1 != 0 || o.Beta2 != 0 || o.Eps != 0 || o.WeightDecay != 0 {
			return fmt.Errorf("inner_optimizer %q takes no constants (beta1 %v, beta2 %v, eps %v, weight_decay %v: want all 0)",
				o.Kind, o.Beta1, o.Beta2, o.Eps, o.WeightDecay)
		}
	case InnerAdamWV1:
		switch {
		case !finite(o.Beta1) || o.Beta1 < 0 || o.Beta1 >= 1:
			return fmt.Errorf("inner_optimizer.beta1 %v not in [0, 1)", o.Beta1)
		case !finite(o.Beta2) || o.Beta2 < 0 || o.Beta2 >= 1:
			return fmt.Errorf("inner_optimizer.beta2 %v not in [0, 1)", o.Beta2)
		case !finite(o.Eps) || o.Eps <= 0:
			return fmt.Errorf("inner_optimizer.eps %v not > 0", o.Eps)
		case !finite(o.WeightDecay) || o.WeightDecay < 0:
			return fmt.Errorf("inner_optimizer.weight_decay %v not ≥ 0", o.WeightDecay)
		}
	default:
		return fmt.Errorf("inner_optimizer.kind %q unknown (want %q or %q)", o.Kind, InnerSGD, InnerAdamWV1)
	}
	return nil
}

// OuterOptimizer selects the outer step (how the aggregate is applied) and
// holds its constants. Under OuterSGD both constants must be 0. Under
// OuterNesterovV1: LR > 0, 0 ≤ Momentum < 1; the step is OuterStep.
type OuterOptimizer struct {
	// Kind is OuterSGD or OuterNesterovV1.
	Kind string `json:"kind"`
	// LR is the outer learning rate L.
	LR float64 `json:"lr"`
	// Momentum is μ, the decay of the momentum buffer.
	Momentum float64 `json:"momentum"`
}

// OuterPlain returns the OuterSGD outer optimizer: θ[idx] += a.
func OuterPlain() OuterOptimizer { return OuterOptimizer{Kind: OuterSGD} }

// Nesterov returns OuterNesterovV1 with learning rate lr and momentum mu
// (DiLoCo's outer step takes lr 0.7, mu 0.9).
func Nesterov(lr, mu float64) OuterOptimizer {
	return OuterOptimizer{Kind: OuterNesterovV1, LR: lr, Momentum: mu}
}

// HasState reports whether the outer optimizer keeps a momentum buffer in
// the replica.
func (o OuterOptimizer) HasState() bool { return o.Kind == OuterNesterovV1 }

func (o OuterOptimizer) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch o.Kind {
	case OuterSGD:
		if o.LR != 0 || o.Momentum != 0 {
			return fmt.Errorf("outer_optimizer %q takes no constants (lr %v, momentum %v: want both 0)", o.Kind, o.LR, o.Momentum)
		}
	case OuterNesterovV1:
		switch {
		case !finite(o.LR) || o.LR <= 0:
			return fmt.Errorf("outer_optimizer.lr %v not > 0", o.LR)
		case !finite(o.Momentum) || o.Momentum < 0 || o.Momentum >= 1:
			return fmt.Errorf("outer_optimizer.momentum %v not in [0, 1)", o.Momentum)
		}
	default:
		return fmt.Errorf("outer_optimizer.kind %q unknown (want %q or %q)", o.Kind, OuterSGD, OuterNesterovV1)
	}
	return nil
}

// Strategies names the consensus-critical derivations by id.
type Strategies struct {
	Window     string `json:"window"`
	Pages      string `json:"pages"`
	Slice      string `json:"slice"`
	Aggregator string `json:"aggregator"`
}

// Schedule is the learning rate as a function of the window. Only the
// arithmetic operations + − × ÷ appear in any schedule, so every
// implementation computes the same float64 (SPEC.md §2).
type Schedule struct {
	// Kind is ConstantLR or LinearLR.
	Kind string `json:"kind"`
	// Base is the peak learning rate.
	Base float64 `json:"base"`
	// Min is the floor reached at the end of the decay (LinearLR).
	Min float64 `json:"min"`
	// Warmup is the number of windows of linear warmup from 0 (LinearLR).
	Warmup uint64 `json:"warmup"`
	// Total is the window at which the decay reaches Min (LinearLR).
	Total uint64 `json:"total"`
}

// At returns lr(w).
func (s Schedule) At(w uint64) float64 {
	switch s.Kind {
	case LinearLR:
		if w < s.Warmup {
			return s.Base * float64(w+1) / float64(s.Warmup+1)
		}
		if w >= s.Total {
			return s.Min
		}
		frac := float64(w-s.Warmup) / float64(s.Total-s.Warmup)
		return s.Base - (s.Base-s.Min)*frac
	default:
		return s.Base
	}
}

// StepLR returns the learning rate of each optimizer step of window w:
// lr(w), divided by the slice fraction under LRScaleInverseFraction (one
// binary64 division, SPEC.md §2.2).
func (p *Params) StepLR(w uint64) float64 {
	lr := p.LR.At(w)
	if p.LRScale == LRScaleInverseFraction {
		return lr / p.SliceFraction
	}
	return lr
}

// MicroBatch returns the pages [lo, hi) of micro-batch k (0 ≤ k < h) of n
// pages split into h: lo = ⌊k·n/h⌋, hi = ⌊(k+1)·n/h⌋ (SPEC.md §2.4).
func MicroBatch(n, h, k int) (lo, hi int) {
	return k * n / h, (k + 1) * n / h
}

// ModelConfig describes the architecture. Arch selects the trainer family
// ("mlp/v1", "gpt2/v1", …); the sizes mean what that family says.
type ModelConfig struct {
	Arch    string `json:"arch"`
	Vocab   uint32 `json:"vocab"`
	Context uint32 `json:"context"`
	Embed   uint32 `json:"embed"`
	Hidden  uint32 `json:"hidden"`
	Layers  uint32 `json:"layers"`
	Heads   uint32 `json:"heads"`
	// Parameters is the total number of parameters the layout has; decoders
	// bound every file by it.
	Parameters uint64 `json:"parameters"`
}

// AggregatorParams are the constants of the default aggregator (SPEC.md §8).
type AggregatorParams struct {
	// ClipFactor is c: each Δ is clipped to c × the median norm.
	ClipFactor float64 `json:"clip_factor"`
	// Trim is β: the fraction trimmed from each end per coordinate, in [0, 0.5).
	Trim float64 `json:"trim"`
	// MedianBelow is N: with fewer contributions the median is used.
	MedianBelow uint32 `json:"median_below"`
}

// CheckParams bound the cheap checks every slice goes through.
type CheckParams struct {
	// MaxNormFactor: a slice's L2 norm must be ≤ MaxNormFactor · H ·
	// StepLR(w) · ClipNorm.
	MaxNormFactor float64 `json:"max_norm_factor"`
	// MinNormFactor: a slice's L2 norm must be ≥ MinNormFactor · StepLR(w) ·
	// ClipNorm · √f (0 disables the lower bound).
	MinNormFactor float64 `json:"min_norm_factor"`
}

// MaxTimeMS bounds every time in Params (one day), so that products of
// blocks and times fit a u64.
const MaxTimeMS = 24 * 3600 * 1000

// BlockTime returns the block time as a time.Duration.
func (p *Params) BlockTime() time.Duration { return time.Duration(p.BlockTimeMS) * time.Millisecond }

// ErrInvalidParams is wrapped by every error Validate returns.
var ErrInvalidParams = errors.New("bistro: invalid params")

// Validate checks p without changing it. The error names the field and the
// values in conflict and wraps ErrInvalidParams.
func (p *Params) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidParams, fmt.Sprintf(format, a...))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case p.Protocol != ProtocolVersion:
		return bad("protocol %d, this implementation speaks %d", p.Protocol, ProtocolVersion)
	case p.BlocksPerWindow < 2:
		return bad("blocks_per_window %d < 2", p.BlocksPerWindow)
	case p.BlocksPerWindow > 1<<32:
		return bad("blocks_per_window %d > 2^32", p.BlocksPerWindow)
	case p.Grace == 0:
		return bad("grace 0: slices need at least one block after the seed")
	case p.Grace >= p.BlocksPerWindow:
		return bad("grace %d >= blocks_per_window %d", p.Grace, p.BlocksPerWindow)
	case p.BlockTimeMS == 0 || p.BlockTimeMS > MaxTimeMS:
		return bad("block_time_ms %d not in [1, %d]", p.BlockTimeMS, MaxTimeMS)
	case p.UploadTimeMS == 0 || p.UploadTimeMS > MaxTimeMS:
		return bad("upload_time_ms %d not in [1, %d]", p.UploadTimeMS, MaxTimeMS)
	case p.MergeTimeMS == 0 || p.MergeTimeMS > MaxTimeMS:
		return bad("merge_time_ms %d not in [1, %d]", p.MergeTimeMS, MaxTimeMS)
	case p.PagesPerWindow == 0 || p.PagesPerWindow > MaxPagesPerWindow:
		return bad("pages_per_window %d not in [1, %d]", p.PagesPerWindow, MaxPagesPerWindow)
	case p.PageLength < 2:
		return bad("page_length %d < 2: a page needs an input and a target", p.PageLength)
	case p.DatasetPages < uint64(p.PagesPerWindow):
		return bad("dataset_pages %d < pages_per_window %d", p.DatasetPages, p.PagesPerWindow)
	case p.DatasetDigest.IsZero():
		return bad("dataset_digest unset")
	case !finite(p.SliceFraction) || p.SliceFraction <= 0 || p.SliceFraction > 1:
		return bad("slice_fraction %v not in (0, 1]", p.SliceFraction)
	case p.SliceRun == 0:
		return bad("slice_run 0")
	case !finite(p.ClipNorm) || p.ClipNorm <= 0:
		return bad("clip_norm %v not > 0", p.ClipNorm)
	case p.LRScale != LRScaleNone && p.LRScale != LRScaleInverseFraction:
		return bad("lr_scale %q unknown (want %q or %q)", p.LRScale, LRScaleNone, LRScaleInverseFraction)
	case p.InnerSteps == 0 || p.InnerSteps > p.PagesPerWindow:
		return bad("inner_steps %d not in [1, pages_per_window %d]: every micro-batch needs a page", p.InnerSteps, p.PagesPerWindow)
	case p.Model.Arch == "" || len(p.Model.Arch) > 64:
		return bad("model.arch of %d bytes (want 1 … 64)", len(p.Model.Arch))
	case p.Model.Parameters == 0:
		return bad("model.parameters 0")
	case p.GenesisDigest.IsZero():
		return bad("genesis_digest unset")
	case !finite(p.Aggregator.ClipFactor) || p.Aggregator.ClipFactor < 1:
		return bad("aggregator.clip_factor %v < 1", p.Aggregator.ClipFactor)
	case !finite(p.Aggregator.Trim) || p.Aggregator.Trim < 0 || p.Aggregator.Trim >= 0.5:
		return bad("aggregator.trim %v not in [0, 0.5)", p.Aggregator.Trim)
	case !finite(p.Checks.MaxNormFactor) || p.Checks.MaxNormFactor < 1:
		return bad("checks.max_norm_factor %v < 1: honest slices would fail", p.Checks.MaxNormFactor)
	case !finite(p.Checks.MinNormFactor) || p.Checks.MinNormFactor < 0 || p.Checks.MinNormFactor >= 1:
		return bad("checks.min_norm_factor %v not in [0, 1)", p.Checks.MinNormFactor)
	case p.CheckpointInterval == 0:
		return bad("checkpoint_interval 0")
	case p.Retention < 2*p.CheckpointInterval:
		return bad("retention %d < 2 × checkpoint_interval %d", p.Retention, p.CheckpointInterval)
	}
	if err := p.LR.validate(); err != nil {
		return bad("%v", err)
	}
	if err := p.InnerOptimizer.validate(); err != nil {
		return bad("%v", err)
	}
	if err := p.OuterOptimizer.validate(); err != nil {
		return bad("%v", err)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"slice_fraction", p.SliceFraction}, {"lr.base", p.LR.Base}, {"lr.min", p.LR.Min}, {"clip_norm", p.ClipNorm},
		{"aggregator.clip_factor", p.Aggregator.ClipFactor}, {"aggregator.trim", p.Aggregator.Trim},
		{"checks.max_norm_factor", p.Checks.MaxNormFactor}, {"checks.min_norm_factor", p.Checks.MinNormFactor},
		{"inner_optimizer.beta1", p.InnerOptimizer.Beta1}, {"inner_optimizer.beta2", p.InnerOptimizer.Beta2},
		{"inner_optimizer.eps", p.InnerOptimizer.Eps}, {"inner_optimizer.weight_decay", p.InnerOptimizer.WeightDecay},
		{"outer_optimizer.lr", p.OuterOptimizer.LR}, {"outer_optimizer.momentum", p.OuterOptimizer.Momentum}} {
		if math.Signbit(f.v) {
			return bad("%s is negative (−0 included: it has other bits than 0)", f.name)
		}
	}
	if err := p.validateStrategies(); err != nil {
		return bad("%v", err)
	}
	return p.validateBudget()
}

// validateBudget checks the time budget of SPEC.md §2.3: the upload fits in
// the grace period, the lead's merge fits between the finalized deadline
// and the start of the window that trains on the aggregate, and every rank of
// the failover gets the merge time. B ≤ 2^32, failover_delay ≤ B − G − lag
// (checked before its product) and times ≤ MaxTimeMS keep every product
// within a u64.
func (p *Params) validateBudget() error {
	bt := p.BlockTimeMS
	if p.Grace*bt < p.UploadTimeMS {
		return fmt.Errorf("%w: grace %d blocks × block_time_ms %d = %d ms < upload_time_ms %d",
			ErrInvalidParams, p.Grace, bt, p.Grace*bt, p.UploadTimeMS)
	}
	if p.FinalityLag >= p.BlocksPerWindow-p.Grace {
		return fmt.Errorf("%w: grace %d + finality_lag %d >= blocks_per_window %d: no time left to merge",
			ErrInvalidParams, p.Grace, p.FinalityLag, p.BlocksPerWindow)
	}
	room := p.BlocksPerWindow - p.Grace - p.FinalityLag
	if room*bt < p.MergeTimeMS {
		return fmt.Errorf("%w: (blocks_per_window %d − grace %d − finality_lag %d) × block_time_ms %d = %d ms < merge_time_ms %d",
			ErrInvalidParams, p.BlocksPerWindow, p.Grace, p.FinalityLag, bt, room*bt, p.MergeTimeMS)
	}
	if p.FailoverDelay == 0 {
		return fmt.Errorf("%w: failover_delay 0: each rank needs at least one block", ErrInvalidParams)
	}
	if p.FailoverDelay > room {
		return fmt.Errorf("%w: grace %d + finality_lag %d + failover_delay %d > blocks_per_window %d: the lead's deadline is finalized after the window that needs its aggregate starts",
			ErrInvalidParams, p.Grace, p.FinalityLag, p.FailoverDelay, p.BlocksPerWindow)
	}
	if p.FailoverDelay*bt < p.MergeTimeMS {
		return fmt.Errorf("%w: failover_delay %d blocks × block_time_ms %d = %d ms < merge_time_ms %d",
			ErrInvalidParams, p.FailoverDelay, bt, p.FailoverDelay*bt, p.MergeTimeMS)
	}
	return nil
}

func (s Schedule) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(s.Base) || s.Base <= 0 {
		return fmt.Errorf("lr.base %v not > 0", s.Base)
	}
	switch s.Kind {
	case ConstantLR:
		return nil
	case LinearLR:
		if !finite(s.Min) || s.Min < 0 || s.Min > s.Base {
			return fmt.Errorf("lr.min %v not in [0, base %v]", s.Min, s.Base)
		}
		if s.Total <= s.Warmup {
			return fmt.Errorf("lr.total %d <= lr.warmup %d", s.Total, s.Warmup)
		}
		return nil
	default:
		return fmt.Errorf("lr.kind %q unknown (want %q or %q)", s.Kind, ConstantLR, LinearLR)
	}
}

func (p *Params) validateStrategies() error {
	s := p.Strategies
	if s.Window != WindowV1 {
		return fmt.Errorf("strategies.window %q unknown (want %q)", s.Window, WindowV1)
	}
	if s.Pages != PagesV1 {
		return fmt.Errorf("strategies.pages %q unknown (want %q)", s.Pages, PagesV1)
	}
	if s.Slice != SliceV1 {
		return fmt.Errorf("strategies.slice %q unknown (want %q)", s.Slice, SliceV1)
	}
	if s.Aggregator != TrimmedMeanV1 && s.Aggregator != MeanV1 {
		return fmt.Errorf("strategies.aggregator %q unknown (want %q or %q)", s.Aggregator, TrimmedMeanV1, MeanV1)
	}
	return nil
}

// Digest returns H("bistro/params", every field in declaration order), the
// canonical encoding of SPEC.md §2. Changing any field changes the digest.
func (p *Params) Digest() Hash {
	h := newHasher("bistro/params")
	h.u32(p.Protocol)
	h.u16(p.NetUID)
	h.u64(p.BlocksPerWindow)
	h.u64(p.FirstWindow)
	h.u64(p.Grace)
	h.u64(p.BlockTimeMS)
	h.u64(p.FinalityLag)
	h.u64(p.UploadTimeMS)
	h.u64(p.MergeTimeMS)
	h.u64(p.FailoverDelay)
	h.u32(p.PagesPerWindow)
	h.u32(p.PageLength)
	h.u64(p.DatasetPages)
	h.raw(p.DatasetDigest[:])
	h.f64(p.SliceFraction)
	h.u32(p.SliceRun)
	h.str(p.LR.Kind)
	h.f64(p.LR.Base)
	h.f64(p.LR.Min)
	h.u64(p.LR.Warmup)
	h.u64(p.LR.Total)
	h.f64(p.ClipNorm)
	h.str(p.LRScale)
	h.u32(p.InnerSteps)
	h.str(p.InnerOptimizer.Kind)
	h.f64(p.InnerOptimizer.Beta1)
	h.f64(p.InnerOptimizer.Beta2)
	h.f64(p.InnerOptimizer.Eps)
	h.f64(p.InnerOptimizer.WeightDecay)
	h.str(p.OuterOptimizer.Kind)
	h.f64(p.OuterOptimizer.LR)
	h.f64(p.OuterOptimizer.Momentum)
	m := p.Model
	h.str(m.Arch)
	for _, v := range []uint32{m.Vocab, m.Context, m.Embed, m.Hidden, m.Layers, m.Heads} {
		h.u32(v)
	}
	h.u64(m.Parameters)
	h.raw(p.GenesisDigest[:])
	h.f64(p.Aggregator.ClipFactor)
	h.f64(p.Aggregator.Trim)
	h.u32(p.Aggregator.MedianBelow)
	h.f64(p.Checks.MaxNormFactor)
	h.f64(p.Checks.MinNormFactor)
	h.u64(p.CheckpointInterval)
	h.u64(p.Retention)
	h.str(p.Strategies.Window)
	h.str(p.Strategies.Pages)
	h.str(p.Strategies.Slice)
	h.str(p.Strategies.Aggregator)
	return h.sum()
}

// DefaultParams returns Params with the protocol's default strategies and
// constants for a subnet on a 12-second chain. The dataset, model and genesis
// fields are left for the subnet owner to fill.
func DefaultParams(netuid uint16) Params {
	return Params{
		Protocol:           ProtocolVersion,
		NetUID:             netuid,
		BlocksPerWindow:    10,
		Grace:              3,
		BlockTimeMS:        12000,
		FinalityLag:        2,
		UploadTimeMS:       20000,
		MergeTimeMS:        40000,
		FailoverDelay:      4,
		PagesPerWindow:     4,
		PageLength:         1024,
		SliceFraction:      0.05,
		SliceRun:           1,
		LR:                 Schedule{Kind: ConstantLR, Base: 1e-3},
		ClipNorm:           1,
		LRScale:            LRScaleNone,
		InnerSteps:         1,
		InnerOptimizer:     SGD(),
		OuterOptimizer:     OuterPlain(),
		Aggregator:         AggregatorParams{ClipFactor: 2, Trim: 0.2, MedianBelow: 5},
		Checks:             CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0},
		CheckpointInterval: 50,
		Retention:          100,
		Strategies: Strategies{
			Window: WindowV1, Pages: PagesV1, Slice: SliceV1, Aggregator: TrimmedMeanV1,
		},
	}
}

// ReadParams decodes and validates a Params JSON document of at most
// MaxParamsBytes. Unknown fields are errors: a typo must not silently fall
// back to a default that changes the digest.
func ReadParams(r io.Reader) (Params, error) {
	var p Params
	b, err := io.ReadAll(io.LimitReader(r, MaxParamsBytes+1))
	if err != nil {
		return p, fmt.Errorf("bistro: read params: %w", err)
	}
	if len(b) > MaxParamsBytes {
		return p, fmt.Errorf("%w: file larger than %d bytes", ErrInvalidParams, MaxParamsBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidParams, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidParams)
	}
	// encoding/json matches names case-insensitively, takes the last of
	// repeated keys and leaves missing fields zero: another implementation
	// would read such a file differently, so the key sets must be exactly
	// the canonical ones.
	canon, err := json.Marshal(&p)
	if err != nil {
		return p, err
	}
	if err := sameKeys(b, canon); err != nil {
		return p, fmt.Errorf("%w: %v", ErrInvalidParams, err)
	}
	return p, p.Validate()
}

// LoadParams reads a Params JSON file; see ReadParams.
func LoadParams(path string) (Params, error) {
	f, err := os.Open(path)
	if err != nil {
		return Params{}, fmt.Errorf("bistro: params: %w", err)
	}
	defer f.Close()
	p, err := ReadParams(f)
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// WriteParams encodes p as indented JSON, after validating it.
func WriteParams(w io.Writer, p *Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// sameKeys checks that the JSON document doc has, at every object, exactly
// the keys canon has there, each once and spelled the same.
func sameKeys(doc, canon []byte) error {
	got, err := keyPaths(doc)
	if err != nil {
		return err
	}
	want, err := keyPaths(canon)
	if err != nil {
		return err
	}
	// In sorted order: the error names the same field every time.
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !got[k] {
			return fmt.Errorf("field %s missing", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if !want[k] {
			return fmt.Errorf("field %s unknown (names are case-sensitive)", k)
		}
	}
	return nil
}

// keyPaths lists the dotted paths of every object key in doc, refusing
// repeated keys.
func keyPaths(doc []byte) (map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	paths := map[string]bool{}
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				path := prefix + "." + k.(string)
				if paths[path] {
					return fmt.Errorf("field %s repeated", path)
				}
				paths[path] = true
				if err := walk(path); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := walk(prefix + "[]"); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	return paths, walk("")
}
