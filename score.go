package bistro

import (
	"context"
	"fmt"
	"math"
)

// PassFail is the default Scorer: the relative error r = ‖m − v‖ / ‖v‖ of the
// miner's slice m against the validator's recomputation v. r ≤ Tau passes
// (score 1); Tau < r ≤ Slash fails (score 0); r > Slash slashes (score 0 and
// the miner's average is reset). Tau absorbs honest differences between
// hardware and precisions; Slash sits close above it, since an honest miner
// lands far below Tau and any shortcut lands far above.
type PassFail struct {
	Tau   float64
	Slash float64
}

// DefaultPassFail returns τ = 0.05 and a slash threshold of 0.1. Honest
// recomputation on the same code path is bit-identical (r = 0); τ leaves room
// for other trainers (GPU, other BLAS) of the same update.
func DefaultPassFail() PassFail { return PassFail{Tau: 0.05, Slash: 0.1} }

// NegDistance is the original BISTRO score, R = −‖m − v‖; it always passes
// and leaves ranking to the Ledger.
type NegDistance struct{}

// Cosine scores by cosine similarity of m and v; it passes above Min.
type Cosine struct{ Min float64 }

var (
	_ Scorer = PassFail{}
	_ Scorer = NegDistance{}
	_ Scorer = Cosine{}
)

// distances returns ‖m − v‖, ‖m‖, ‖v‖ and m·v, in float64 in order; ok is
// false when the shapes differ.
func distances(m, v [][]float32) (diff, nm, nv, dot float64, ok bool) {
	if len(m) != len(v) {
		return 0, 0, 0, 0, false
	}
	for t := range m {
		if len(m[t]) != len(v[t]) {
			return 0, 0, 0, 0, false
		}
		for i, a := range m[t] {
			x, y := float64(a), float64(v[t][i])
			diff += (x - y) * (x - y)
			nm += x * x
			nv += y * y
			dot += x * y
		}
	}
	return math.Sqrt(diff), math.Sqrt(nm), math.Sqrt(nv), dot, true
}

// Score returns pass, fail or slash by relative error.
func (s PassFail) Score(miner, validator [][]float32) Score {
	diff, _, nv, _, ok := distances(miner, validator)
	if !ok {
		return Score{Value: 0, Verdict: Fail, Reason: "slice shape differs from the recomputation"}
	}
	r := 0.0
	if nv > 0 {
		r = diff / nv
	} else if diff > 0 {
		r = math.Inf(1)
	}
	switch {
	case r <= s.Tau:
		return Score{Value: 1, Verdict: Pass, Reason: fmt.Sprintf("rel err %.3g <= tau %.3g", r, s.Tau)}
	case r > s.Slash:
		return Score{Value: 0, Verdict: Slash, Reason: fmt.Sprintf("rel err %.3g > slash %.3g", r, s.Slash)}
	default:
		return Score{Value: 0, Verdict: Fail, Reason: fmt.Sprintf("rel err %.3g > tau %.3g", r, s.Tau)}
	}
}

// Score returns −‖m − v‖.
func (NegDistance) Score(miner, validator [][]float32) Score {
	diff, _, _, _, ok := distances(miner, validator)
	if !ok {
		return Score{Value: math.Inf(-1), Verdict: Fail, Reason: "slice shape differs from the recomputation"}
	}
	return Score{Value: -diff, Verdict: Pass, Reason: fmt.Sprintf("distance %.3g", diff)}
}

// Score returns the cosine similarity.
func (c Cosine) Score(miner, validator [][]float32) Score {
	_, nm, nv, dot, ok := distances(miner, validator)
	if !ok || nm == 0 || nv == 0 {
		return Score{Value: 0, Verdict: Fail, Reason: "no direction to compare"}
	}
	cos := dot / (nm * nv)
	if cos <= c.Min {
		return Score{Value: cos, Verdict: Fail, Reason: fmt.Sprintf("cosine %.3g <= %.3g", cos, c.Min)}
	}
	return Score{Value: cos, Verdict: Pass, Reason: fmt.Sprintf("cosine %.3g", cos)}
}

// SliceInput is what ScoreSlice needs besides the validator's parts.
type SliceInput struct {
	// Window and Hotkey say whose slice of which window this is.
	Window uint64
	Hotkey Hotkey
	// Seed is the finalized hash of the window's seed block.
	Seed Hash
	// Values are the slice's tensors (a decoded slice file's Tensors).
	Values [][]float32
}

// ScoreSlice scores one miner's slice with no loop and no chain: it derives
// the miner's pages and the slice indices from p, recomputes Δ on base with
// trainer over dataset, gathers it at the indices, runs the cheap norm check,
// and compares with scorer (DefaultPassFail when nil). base must be base(w).
// Another subnet's validator can call it as is.
func ScoreSlice(ctx context.Context, p *Params, base Model, trainer Trainer, dataset Dataset, scorer Scorer, in SliceInput) (Score, error) {
	if scorer == nil {
		scorer = DefaultPassFail()
	}
	pa, err := NewPages(p)
	if err != nil {
		return Score{}, err
	}
	sel, err := NewSlices(p)
	if err != nil {
		return Score{}, err
	}
	idx, err := sel.Select(in.Seed, base.Layout())
	if err != nil {
		return Score{}, err
	}
	if len(in.Values) != len(idx) {
		return Score{Value: 0, Verdict: Fail, Reason: "slice has the wrong number of tensors"}, nil
	}
	for t := range idx {
		if len(in.Values[t]) != len(idx[t]) {
			return Score{Value: 0, Verdict: Fail, Reason: fmt.Sprintf("tensor %d has %d values, want %d", t, len(in.Values[t]), len(idx[t]))}, nil
		}
	}
	if err := CheckNorm(p, in.Window, in.Values); err != nil {
		return Score{Value: 0, Verdict: Fail, Reason: err.Error()}, nil
	}
	ref, err := Recompute(ctx, p, base, trainer, dataset, pa, in.Window, in.Hotkey, idx)
	if err != nil {
		return Score{}, err
	}
	return scorer.Score(in.Values, ref), nil
}

// Recompute computes a miner's Δ of window w on base and gathers it at idx.
func Recompute(ctx context.Context, p *Params, base Model, trainer Trainer, dataset Dataset, pa PageAssigner, w uint64, hotkey Hotkey, idx Indices) ([][]float32, error) {
	pages, err := MinerPages(ctx, p, dataset, pa, w, hotkey)
	if err != nil {
		return nil, err
	}
	delta, err := TrainUpdate(ctx, p, trainer, base, pages, w)
	if err != nil {
		return nil, fmt.Errorf("bistro: recompute window %d for %s: %w", w, hotkey, err)
	}
	return GatherAll(delta, idx)
}

// MinerPages returns the tokens of the pages assigned to hotkey in window w.
func MinerPages(ctx context.Context, p *Params, dataset Dataset, pa PageAssigner, w uint64, hotkey Hotkey) ([][]int32, error) {
	if dataset.Pages() < p.DatasetPages || dataset.PageLength() != int(p.PageLength) || dataset.Digest() != p.DatasetDigest {
		return nil, fmt.Errorf("%w: the dataset (%d pages of %d, digest %s) is not the one Params pin", ErrInvalidParams,
			dataset.Pages(), dataset.PageLength(), dataset.Digest())
	}
	ids, err := pa.Assign(w, hotkey, int(p.PagesPerWindow), p.DatasetPages)
	if err != nil {
		return nil, err
	}
	pages := make([][]int32, len(ids))
	for i, id := range ids {
		if pages[i], err = dataset.Page(ctx, id, nil); err != nil {
			return nil, fmt.Errorf("bistro: page %d: %w", id, err)
		}
	}
	return pages, nil
}

// GatherAll gathers every tensor of src at idx.
func GatherAll(src Tensors, idx Indices) ([][]float32, error) {
	out := make([][]float32, len(idx))
	for t, ix := range idx {
		out[t] = make([]float32, len(ix))
		if err := src.Gather(t, ix, out[t]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
