package bistro

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// The trimmed mean's vector path (SPEC.md §9). W coordinates are merged at
// once, one per SIMD lane (W = 8 with AVX-512F, 4 with AVX2): the block holds
// row i = v_i of each of the W coordinates (the inputs as they are laid out,
// converted to float64 and scaled, no transpose), padded with +Inf up to P
// rows, P a power of two. A bitonic sorting network sorts every lane at once,
// a compare-exchange being one VMINPD and one VMAXPD. The padding sorts
// last, so rows t … N−t−1 are sorted(v)[t : N−t]; they are summed in that
// order from +0, divided by N−2t and rounded to float32 — the reference's
// own operations on the same values in the same order, so the same bits.
//
// Two cases need a word. Equal values are the same bits except +0 and −0,
// which a compare-exchange may reorder or even turn one into the other
// (VMINPD and VMAXPD return their second operand when the two compare
// equal). A sum that starts at +0 in round-to-nearest is never −0, and x + ±0
// = x for every other x, so the sign of a zero in the kept rows changes no
// bit of the result. NaN is not ordered by VMINPD/VMAXPD as the reference's
// sort orders it: a block holding a NaN (an input NaN, or ±Inf × a zero
// scale) is merged by the portable code instead. The median (N <
// MedianBelow), whose result is one sorted value and so does show a zero's
// sign, always takes the portable code.
//
// The network runs as a program of passes. A pass loads a group of G rows
// (16 ZMM or 8 YMM registers), applies up to log2 G steps of the network to
// them in registers, and stores them back; a table gives the rows of each
// group. The first pass sorts every run of G rows; every later merge phase of
// the network (compare i with i ^ (2^(p+1) − 1), then i with i + 2^q for
// q = p−1 … 0) is cut into passes of log2 G steps. Rows of a group are
// chosen so that every step compares register r with r ^ mask and puts the
// minimum in the lower register (see newTrimPlan).
//
// Each instruction set has three kernels. The float64 one above sorts v for
// any scales. When every scale is 1 (no contribution clipped, the common
// case), the unscaled kernel sorts the float32 inputs themselves, twice the
// lanes a register (VMINPS/VMAXPS): float64(x) is exact and keeps the order,
// so its sorted rows, converted as they are summed, are the same values in
// the same order. When a few contributions are clipped (mixedPays), the mixed
// kernel sorts the others as float32 and inserts each clipped v into the
// sorted float64 rows, row i becoming min(max(row i−1, v), row i) — two
// operations a row against the 2·log² P of sorting everything in float64.
//
// Measured on AMD Zen 4 (2 cores, BenchmarkAggregate/merge): the merge alone
// runs at 0.3–0.6× a memcpy of its input bytes for 64 and 256 contributions,
// against 0.03–0.06× for the selection code it replaced.

// trimArgs is the argument block of the kernels (trimBlocks…, aggregate_amd64.s),
// which read it at fixed offsets (8 bytes a field).
type trimArgs struct {
	dst    *float32  // 0: the merged tensor
	ptrs   **float32 // 8: &inputs[i][0], then 4 more (a copy of the last)
	scales *float64  // 16
	n      int       // 24: N
	rows   int       // 32: P, a power of two ≥ max(N, G)
	lo, hi int       // 40, 48: coordinates to merge; hi − lo a multiple of W
	buf    *float64  // 56: P rows of a vector register
	prog   *trimPass // 64
	passes int       // 72
	trim   int       // 80: t
	kept   int       // 88: N − 2t
	div    float64   // 96: f64(N − 2t)
	// The mixed kernels only (vectorKernel.mixed): then ptrs, scales and n
	// are the unscaled contributions, rows is P for them alone, and
	scaledPtrs   **float32 // 104: the others', &inputs[i][0]
	scaledScales *float64  // 112: their scales
	scaled       int       // 120: k, how many
	work         *float64  // 128: (N − t) rows of W/2 float64
	workRows     int       // 136: N − t
}

// trimPass is one pass of the program: kind selects the in-register steps
// (0: sort each run of G rows; s in 1…log2 G: compare r with r ^ (2^s − 1),
// then r with r + 2^q for q = s−2 … 0; 4+s: r with r + 2^q for q = s−1 … 0),
// tab holds G byte offsets into the block per group.
type trimPass struct {
	kind   int
	tab    *int64
	groups int
}

// trimPlan is the program of passes for P rows and groups of G.
type trimPlan struct {
	passes []trimPass
	tabs   [][]int64 // keeps the tables the passes point at
}

// vectorKernel is one implementation of the vector path.
type vectorKernel struct {
	name     string
	lanes    int // W
	group    int // G
	rowBytes int // a vector register
	run      func(a *trimArgs) int
	// unscaled, when not nil, is the kernel's twin for merges whose every
	// scale is 1: it sorts the float32 inputs themselves, twice the lanes a
	// register. float64(x) is exact and order-preserving, so the sorted rows
	// are the same values in the same order; they are converted to float64
	// as they are summed.
	unscaled *vectorKernel
	// mixed, when not nil, is the twin for merges where a few contributions
	// have a scale other than 1 (clipped ones, see mixedPays): it sorts the
	// others as unscaled does, then inserts each scaled one into the sorted
	// rows in float64 (two operations a row, against a sort's 2·log² P).
	mixed *vectorKernel
	plans sync.Map // P → *trimPlan
}

func (k *vectorKernel) plan(rows int) *trimPlan {
	if p, ok := k.plans.Load(rows); ok {
		return p.(*trimPlan)
	}
	p, _ := k.plans.LoadOrStore(rows, newTrimPlan(rows, k.group, k.rowBytes))
	return p.(*trimPlan)
}

// newTrimPlan returns the bitonic network on rows (a power of two ≥ group)
// as passes over groups of group rows, each row rowBytes long.
//
// A pass of s steps with row masks x_0 … x_{s−1} (x_0 = 2^(p+1) − 1 when it
// opens a phase, else a single bit 2^q, as are the others) works on the
// cosets base ^ span(y_0 … y_{s−1}), y_k = x_k except y_0 = x_0 ^ x_1 ^ … ^
// x_{s−1} when x_0 is the phase's first mask. Register r's low s bits say
// which y_k are in its row (bit s−1−k for y_k), so step k compares register
// r with r ^ mask_k where mask_0 = 2^s − 1 for the first step of a phase and
// mask_k = 2^(s−1−k) otherwise. Each base has the pivot bits clear (p for
// x_0 of a phase, q for 2^q), and a pivot bit of the row is then exactly the
// matching bit of r: the lower row of every compared pair is in the lower
// register, where the minimum goes. Groups of fewer than G rows (s < log2 G)
// are packed G/2^s to a pass group, by the high bits of r.
func newTrimPlan(rows, group, rowBytes int) *trimPlan {
	L := bits.Len(uint(group)) - 1
	K := bits.Len(uint(rows)) - 1
	pl := &trimPlan{}
	add := func(kind int, tab []int64) {
		pl.tabs = append(pl.tabs, tab)
		pl.passes = append(pl.passes, trimPass{kind: kind, tab: &tab[0], groups: len(tab) / group})
	}
	tab := make([]int64, rows)
	for r := range tab {
		tab[r] = int64(r * rowBytes)
	}
	add(0, tab)
	type step struct {
		x, pivot int
		flip     bool
	}
	for p := L; p < K; p++ {
		steps := []step{{1<<(p+1) - 1, p, true}}
		for q := p - 1; q >= 0; q-- {
			steps = append(steps, step{1 << q, q, false})
		}
		for len(steps) > 0 {
			s := min(L, len(steps))
			ps := steps[:s]
			steps = steps[s:]
			y := make([]int, s)
			pivots := 0
			for k, st := range ps {
				y[k] = st.x
				pivots |= 1 << st.pivot
			}
			kind := 4 + s
			if ps[0].flip {
				kind = s
				for _, st := range ps[1:] {
					y[0] ^= st.x
				}
			}
			var bases []int
			for i := 0; i < rows; i++ {
				if i&pivots == 0 {
					bases = append(bases, i)
				}
			}
			per := group >> s
			tab := make([]int64, 0, rows)
			for g := 0; g < len(bases)/per; g++ {
				for r := 0; r < group; r++ {
					row := bases[g*per+r>>s]
					for k := 0; k < s; k++ {
						if r>>(s-1-k)&1 == 1 {
							row ^= y[k]
						}
					}
					tab = append(tab, int64(row*rowBytes))
				}
			}
			add(kind, tab)
		}
	}
	return pl
}

// mixedPays reports whether the mixed kernel should merge N contributions of
// which scaled are clipped: inserting one costs about three operations per
// row kept below N−t, sorting all of them in float64 rather than as float32
// about one per comparator of the network on P rows, both per lane.
func mixedPays(scaled, n, trim int) bool {
	rows := 1 << bits.Len(uint(n-1))
	k := bits.Len(uint(rows)) - 1
	return scaled < n && 3*scaled*(n-trim) <= rows/2*k*(k+1)/2
}

// countOnes returns how many of s are exactly 1.
func countOnes(s []float64) int {
	c := 0
	for _, v := range s {
		c += b2i(v == 1)
	}
	return c
}

// vectorChunk is the number of coordinates a goroutine takes at a time.
const vectorChunk = 2048

// mergeTrimmedVector writes the trimmed mean (t values dropped at each end)
// of every coordinate into dst with the vector kernel k, spreading chunks of
// coordinates over GOMAXPROCS goroutines; each coordinate is computed by one
// goroutine on its own, so parallelism cannot change a bit. Coordinates past
// the last whole block of W, and blocks holding a NaN, are merged by
// mergeColumns. It returns false, having done nothing, when k is nil or the
// inputs are shorter than dst.
func mergeTrimmedVector(k *vectorKernel, dst []float32, inputs [][]float32, scales []float64, trim int) bool {
	n := len(inputs)
	if k == nil || len(scales) < n {
		return false
	}
	for _, in := range inputs {
		if len(in) < len(dst) {
			return false
		}
	}
	// The contributions to sort (all, or the unscaled ones for the mixed
	// kernels) and the scaled ones to insert.
	sorted, sortedScales := inputs, scales[:n]
	var inserted [][]float32
	var insertedScales []float64
	switch scaled := n - countOnes(scales[:n]); {
	case scaled == 0 && k.unscaled != nil:
		k = k.unscaled
	case k.mixed != nil && mixedPays(scaled, n, trim):
		k = k.mixed
		sorted, sortedScales = nil, nil
		for i, s := range scales[:n] {
			if s == 1 {
				sorted = append(sorted, inputs[i])
				sortedScales = append(sortedScales, 1)
			} else {
				inserted = append(inserted, inputs[i])
				insertedScales = append(insertedScales, s)
			}
		}
	}
	if len(dst) < k.lanes {
		return false
	}
	ns := len(sorted)
	rows := max(1<<bits.Len(uint(ns-1)), k.group)
	plan := k.plan(rows)
	// The kernels prefetch from ptrs four at a time: a few more entries,
	// repeating the last, keep them inside the array.
	ptrs := make([]*float32, ns+4)
	for i := range ptrs {
		ptrs[i] = &sorted[min(i, ns-1)][0]
	}
	var insPtrs []*float32
	for _, in := range inserted {
		insPtrs = append(insPtrs, &in[0])
	}
	m := len(dst)
	chunks := (m + vectorChunk - 1) / vectorChunk
	var next atomic.Int64
	work := func() {
		buf := make([]float64, rows*k.rowBytes/8)
		var col []float64
		a := trimArgs{dst: &dst[0], ptrs: &ptrs[0], scales: &sortedScales[0], n: ns, rows: rows, buf: &buf[0],
			prog: &plan.passes[0], passes: len(plan.passes), trim: trim, kept: n - 2*trim, div: float64(n - 2*trim)}
		if len(inserted) > 0 {
			rows64 := make([]float64, (n-trim)*k.rowBytes/8)
			a.scaledPtrs, a.scaledScales, a.scaled = &insPtrs[0], &insertedScales[0], len(inserted)
			a.work, a.workRows = &rows64[0], n-trim
		}
		portable := func(lo, hi int) { // hi − lo ≤ W
			if col == nil {
				col = make([]float64, k.lanes*n)
			}
			mergeColumns(dst, inputs, scales, lo, hi, trim, false, col)
		}
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			lo, hi := c*vectorChunk, min((c+1)*vectorChunk, m)
			vhi := lo + (hi-lo)/k.lanes*k.lanes
			a.lo, a.hi = lo, vhi
			for a.lo < a.hi {
				j := k.run(&a)
				if j >= vhi {
					break
				}
				portable(j, j+k.lanes) // a NaN in this block
				a.lo = j + k.lanes
			}
			if vhi < hi {
				portable(vhi, hi)
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), chunks)
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	runtime.KeepAlive(plan)
	return true
}
