package bistro

import (
	"fmt"
	"math"
	"math/bits"
)

// Indices are the coordinates of a slice: for each tensor of a layout, in
// layout order, the sorted distinct element offsets within that tensor.
type Indices [][]uint32

// Len returns the total number of coordinates.
func (ix Indices) Len() int {
	n := 0
	for _, t := range ix {
		n += len(t)
	}
	return n
}

// SliceSelector chooses the coordinates of a window's slices from the
// window's seed (the hash of its finalized seed block). Implementations are
// pure functions of seed and layout, and must give every tensor at least one
// coordinate, sorted ascending, without repeats.
type SliceSelector interface {
	Select(seed Hash, layout Layout) (Indices, error)
}

// Slices is the default SliceSelector (SliceV1). Each tensor of n elements is
// cut into ⌈n/Run⌉ runs of Run consecutive elements (the last may be short);
// k = max(1, ⌊Fraction · runs⌋) distinct runs are drawn by Rand seeded with
// H("bistro/slice", seed, u32 tensor index) — or, when k > runs/2, the
// runs−k runs left out are drawn instead — and the chosen runs' elements are
// returned in ascending order.
type Slices struct {
	Fraction float64 // f in (0, 1]
	Run      uint32  // run length, ≥ 1
}

var _ SliceSelector = Slices{}

// NewSlices returns the SliceSelector for p's strategy.
func NewSlices(p *Params) (SliceSelector, error) {
	if p.Strategies.Slice != SliceV1 {
		return nil, fmt.Errorf("bistro: slice strategy %q unknown", p.Strategies.Slice)
	}
	s := Slices{Fraction: p.SliceFraction, Run: p.SliceRun}
	return s, s.validate()
}

func (s Slices) validate() error {
	if !(s.Fraction > 0 && s.Fraction <= 1) || s.Run == 0 {
		return fmt.Errorf("%w: slice fraction %v, run %d", ErrInvalidParams, s.Fraction, s.Run)
	}
	return nil
}

// SliceSeed returns the seed of tensor t's draws: H("bistro/slice", seed, u32 t).
func SliceSeed(seed Hash, t int) Hash {
	h := newHasher("bistro/slice")
	h.raw(seed[:])
	h.u32(uint32(t))
	return h.sum()
}

// Runs returns how many runs tensor of n elements has, and how many of them a
// slice takes.
func (s Slices) Runs(n int) (runs, k uint64) {
	runs = (uint64(n) + uint64(s.Run) - 1) / uint64(s.Run)
	k = uint64(math.Floor(s.Fraction * float64(runs)))
	k = max(k, 1)
	k = min(k, runs)
	return runs, k
}

// Select returns the slice coordinates for seed over layout.
func (s Slices) Select(seed Hash, layout Layout) (Indices, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	out := make(Indices, len(layout))
	var marks []uint64
	for t, spec := range layout {
		n := spec.Len()
		runs, k := s.Runs(n)
		words := int((runs + 63) / 64)
		if cap(marks) < words {
			marks = make([]uint64, words)
		}
		marks = marks[:words]
		clear(marks)
		// Draw the smaller side: the chosen runs, or the runs left out.
		draw, invert := k, false
		if k > runs/2 {
			draw, invert = runs-k, true
		}
		r := NewRand(SliceSeed(seed, t))
		for got := uint64(0); got < draw; {
			j := r.Below(runs)
			w, b := j/64, uint64(1)<<(j%64)
			if marks[w]&b == 0 {
				marks[w] |= b
				got++
			}
		}
		if invert {
			for i := range marks {
				marks[i] = ^marks[i]
			}
			if tail := runs % 64; tail != 0 {
				marks[words-1] &= (1 << tail) - 1
			}
		}
		idx := make([]uint32, 0, min(uint64(n), k*uint64(s.Run)))
		run := uint64(s.Run)
		for w, word := range marks {
			for word != 0 {
				j := uint64(w)*64 + uint64(bits.TrailingZeros64(word))
				word &= word - 1
				start := j * run
				end := min(start+run, uint64(n))
				for e := start; e < end; e++ {
					idx = append(idx, uint32(e))
				}
			}
		}
		out[t] = idx
	}
	return out, nil
}
