package bistro

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// TrimmedMean is the default Aggregator (TrimmedMeanV1, SPEC.md §9): each
// contribution is scaled down to at most ClipFactor × the median norm, then
// every coordinate takes the trimmed mean — ⌊Trim·N⌋ values dropped at each
// end — or, with fewer than MedianBelow contributions, the median. Values are
// sorted per coordinate and summed in float64 in sorted order, so the result
// is the same bits for any order of the inputs; it is rounded to float32 once.
type TrimmedMean struct {
	ClipFactor  float64
	Trim        float64
	MedianBelow int
}

// Mean is the plain mean (MeanV1): Σ scale·x in float64 in input (uid)
// order, divided by N, rounded to float32. It has no robustness; it exists
// for trusted networks and as a baseline.
type Mean struct{}

var (
	_ Aggregator = TrimmedMean{}
	_ Aggregator = Mean{}
)

// NewAggregator returns the Aggregator for p's strategy.
func NewAggregator(p *Params) (Aggregator, error) {
	switch p.Strategies.Aggregator {
	case TrimmedMeanV1:
		a := p.Aggregator
		return TrimmedMean{ClipFactor: a.ClipFactor, Trim: a.Trim, MedianBelow: int(a.MedianBelow)}, nil
	case MeanV1:
		return Mean{}, nil
	}
	return nil, fmt.Errorf("bistro: aggregator strategy %q unknown", p.Strategies.Aggregator)
}

// Median returns the median of v (the mean of the two middle values for an
// even count; 0 for none). v is not modified.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Scales clips each contribution to ClipFactor × the median norm: scale_i =
// min(1, c·m / ‖Δ_i‖), 1 for a zero norm.
func (a TrimmedMean) Scales(norms []float64) []float64 {
	limit := a.ClipFactor * Median(norms)
	out := make([]float64, len(norms))
	for i, n := range norms {
		out[i] = 1
		if n > limit && n > 0 {
			out[i] = limit / n
		}
	}
	return out
}

// Merge writes the trimmed mean (or median) of every coordinate into dst.
// The result is, bit for bit, the sum of the kept values in ascending order
// in float64 divided by N−2t and rounded once to float32 (SPEC.md §9). Where
// the CPU has AVX2 or AVX-512F, the trimmed mean sorts W coordinates at once
// with a sorting network in SIMD lanes (aggregate_vector.go); otherwise, and
// for the median, it is computed by selection rather than by sorting every
// coordinate (see trimmedColumn). Either way it runs in blocks of
// coordinates spread over the CPUs, and every coordinate is computed by one
// goroutine on its own, so parallelism cannot change a bit.
func (a TrimmedMean) Merge(dst []float32, inputs [][]float32, scales []float64) {
	n := len(inputs)
	if n == 0 {
		clear(dst)
		return
	}
	median := n < a.MedianBelow
	trim := int(math.Floor(a.Trim * float64(n)))
	if 2*trim >= n {
		trim = (n - 1) / 2
	}
	if !median && mergeTrimmedVector(mergeKernel, dst, inputs, scales, trim) {
		return
	}
	forBlocks(len(dst), n, func(lo, hi int, col []float64) {
		mergeColumns(dst, inputs, scales, lo, hi, trim, median, col)
	})
}

// mergeColumns is the portable merge of coordinates [lo, hi): the median of
// each, or its trimmed mean with t values dropped at each end. col holds at
// least (hi−lo)·N values.
func mergeColumns(dst []float32, inputs [][]float32, scales []float64, lo, hi, trim int, median bool, col []float64) {
	n := len(inputs)
	gather(col, inputs, scales, lo, hi)
	for j := lo; j < hi; j++ {
		c := col[(j-lo)*n : (j-lo+1)*n]
		if median {
			insertionSort(c)
			if n%2 == 1 {
				dst[j] = float32(c[n/2])
			} else {
				dst[j] = float32((c[n/2-1] + c[n/2]) / 2)
			}
			continue
		}
		dst[j] = trimmedColumn(c, trim)
	}
}

// mergeBlock is the number of coordinates gathered at once: the inputs are
// read sequentially, a block at a time, into a coordinate-major buffer.
const mergeBlock = 256

// forBlocks runs fn over [0, m) in blocks of mergeBlock coordinates on up to
// GOMAXPROCS goroutines, each with its own column buffer of block×n values.
// It returns when every block is done.
func forBlocks(m, n int, fn func(lo, hi int, col []float64)) {
	blocks := (m + mergeBlock - 1) / mergeBlock
	workers := min(runtime.GOMAXPROCS(0), blocks)
	if workers <= 1 {
		col := make([]float64, mergeBlock*n)
		for lo := 0; lo < m; lo += mergeBlock {
			fn(lo, min(lo+mergeBlock, m), col)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			col := make([]float64, mergeBlock*n)
			for {
				b := int(next.Add(1) - 1)
				if b >= blocks {
					return
				}
				lo := b * mergeBlock
				fn(lo, min(lo+mergeBlock, m), col)
			}
		})
	}
	wg.Wait()
}

// gather writes scales[i]·inputs[i][j] for j in [lo, hi) into col, column
// (coordinate) major: col[(j−lo)·n + i]. The float64 product is the same
// value the reference computes.
func gather(col []float64, inputs [][]float32, scales []float64, lo, hi int) {
	n := len(inputs)
	for i, in := range inputs {
		s := scales[i]
		src := in[lo:hi]
		if s == 1 {
			for j, x := range src {
				col[j*n+i] = float64(x)
			}
			continue
		}
		for j, x := range src {
			col[j*n+i] = float64(x) * s
		}
	}
}

// trimmedColumn returns float32(Σ sorted(c)[t:n−t] / (n−2t)), the sum taken
// in ascending order, as the reference (sort, then sum) does — bit for bit.
// c is reordered.
//
// Two selections put the kept multiset in c[t:n−t] (the t-th and (n−t−1)-th
// order statistics with everything below and above them moved aside). When
// the kept values are finite and span few enough binades that every partial
// sum of them is exactly representable in float64 — all are multiples of
// 2^q (q the lowest set bit among them) and K·max|v| < 2^(q+53) — every
// order of summation gives the exact sum, so the ascending sum is the sum in
// any order. Otherwise (rare: values of very different magnitude, or
// non-finite ones) only the kept window is sorted and summed in order. A NaN
// anywhere falls back to the reference itself, whose order with NaNs is its
// own.
func trimmedColumn(c []float64, t int) float32 {
	n := len(c)
	for _, v := range c {
		if v != v {
			insertionSort(c)
			return sumKept(c, t)
		}
	}
	if t > 0 {
		selectK(c, t)
		selectK(c[t+1:], n-2*t-1)
	}
	kept := c[t : n-t]
	var sum float64
	var or, mag uint64
	qmin := 4096
	for _, v := range kept {
		sum += v
		b := math.Float64bits(v) &^ (1 << 63)
		mag = max(mag, b)
		or |= b
		if b != 0 {
			e := int(b >> 52)
			m := b & (1<<52 - 1)
			q := e - 1075
			if e == 0 {
				q = -1074
			} else {
				m |= 1 << 52
			}
			if q += bits.TrailingZeros64(m); q < qmin {
				qmin = q
			}
		}
	}
	if or == 0 {
		return float32(sum / float64(len(kept)))
	}
	emax := int(mag>>52) - 1023 // |v| < 2^(emax+1); 0x7ff (Inf) fails below
	if top := emax + 1 + bits.Len(uint(len(kept))); mag>>52 == 0x7ff || top > qmin+53 || top > 1023 {
		slices.Sort(kept)
		sum = 0
		for _, v := range kept {
			sum += v
		}
	}
	return float32(sum / float64(len(kept)))
}

// insertionSort sorts small slices without allocating; contributions per
// coordinate are few (miners in a window), and n log n sorts lose to it there.
func insertionSort(v []float64) {
	if len(v) > 48 {
		sort.Float64s(v)
		return
	}
	for i := 1; i < len(v); i++ {
		x := v[i]
		j := i
		for ; j > 0 && v[j-1] > x; j-- {
			v[j] = v[j-1]
		}
		v[j] = x
	}
}

// b2i is 1 for true; the compiler turns it into a SETcc, not a branch.
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}

// sumKept is the reference's sum over a sorted column.
func sumKept(c []float64, t int) float32 {
	var sum float64
	for _, v := range c[t : len(c)-t] {
		sum += v
	}
	return float32(sum / float64(len(c)-2*t))
}

// selectK reorders c so that c[k] is the value sorted(c)[k], everything
// before it ≤ c[k] and everything after it ≥ c[k] (c holds no NaN). It is a
// quickselect with a median-of-three pivot and a branch-free partition;
// small ranges finish with an insertion sort.
func selectK(c []float64, k int) {
	lo, hi := 0, len(c) // the answer is in c[lo:hi]
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		// median of three to c[hi-1] as the pivot
		a, b, d := c[lo], c[mid], c[hi-1]
		if a > b {
			a, b = b, a
		}
		if b > d {
			b = d
			if a > b {
				b = a
			}
		}
		p := b
		// three-way split: [lo,lt) < p, [lt,le) == p, [le,hi) > p, done in two
		// branch-free Lomuto passes.
		lt := lo
		for i := lo; i < hi; i++ {
			v := c[i]
			c[i] = c[lt]
			c[lt] = v
			lt += b2i(v < p)
		}
		le := lt
		for i := lt; i < hi; i++ {
			v := c[i]
			c[i] = c[le]
			c[le] = v
			le += b2i(v <= p)
		}
		switch {
		case k < lt:
			hi = lt
		case k >= le:
			lo = le
		default:
			return
		}
	}
	insertionSort(c[lo:hi])
}

// Scales returns 1 for every contribution.
func (Mean) Scales(norms []float64) []float64 {
	out := make([]float64, len(norms))
	for i := range out {
		out[i] = 1
	}
	return out
}

// Merge writes the mean of every coordinate into dst.
func (Mean) Merge(dst []float32, inputs [][]float32, scales []float64) {
	if len(inputs) == 0 {
		clear(dst)
		return
	}
	for j := range dst {
		var sum float64
		for i, in := range inputs {
			sum += float64(in[j]) * scales[i]
		}
		dst[j] = float32(sum / float64(len(inputs)))
	}
}

// Contribution is one accepted slice offered to the lead's merge.
type Contribution struct {
	UID    UID
	Hotkey Hotkey
	// Payload is the slice file's payload hash (File.PayloadHash): what was
	// signed, whatever signature bytes carried it.
	Payload Hash
	// Values are the slice's tensors (per layout tensor, at the slice indices).
	Values [][]float32
}

// DeltaHash is the SHA-256 of a contribution's values (f32 little-endian,
// tensors in order): two slices with the same DeltaHash carry the same Δ.
func DeltaHash(values [][]float32) Hash {
	h := sha256.New()
	for _, v := range values {
		h.Write(f32Bytes(v))
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// Norm returns the L2 norm of the values, accumulated in float64 in order.
func Norm(values [][]float32) float64 {
	var s float64
	for _, v := range values {
		for _, x := range v {
			s += float64(x) * float64(x)
		}
	}
	return math.Sqrt(s)
}

// MergeSlices is the lead's merge (SPEC.md §9): contributions are sorted by
// uid; every member of a group with the same Δ bytes is dropped (copies
// cannot be told from their original); the rest are merged tensor by tensor
// by agg. It returns the merged tensors, each of len(indices[t]), and the
// manifest of the contributions used, and the uids dropped as duplicates.
// It is MergeStream over contributions held in memory.
func MergeSlices(agg Aggregator, indices Indices, contributions []Contribution) ([][]float32, []ManifestEntry, []UID, error) {
	ss := make([]Streamed, len(contributions))
	for i, c := range contributions {
		if len(c.Values) != len(indices) {
			return nil, nil, nil, fmt.Errorf("%w: uid %d has %d tensors, want %d", ErrWrongShape, c.UID, len(c.Values), len(indices))
		}
		for t, v := range c.Values {
			if len(v) != len(indices[t]) {
				return nil, nil, nil, fmt.Errorf("%w: uid %d tensor %d has %d values, want %d", ErrWrongShape, c.UID, t, len(v), len(indices[t]))
			}
		}
		ss[i] = Streamed{UID: c.UID, Hotkey: c.Hotkey, Payload: c.Payload, Delta: DeltaHash(c.Values), Norm: Norm(c.Values),
			Values: c.Values}
	}
	return mergeHeld(agg, indices, ss)
}

// mergeHeld is MergeStream collecting the merged tensors: MergeSlices for
// callers that already hold each contribution's Delta and Norm.
func mergeHeld(agg Aggregator, indices Indices, ss []Streamed) ([][]float32, []ManifestEntry, []UID, error) {
	out := make([][]float32, len(indices))
	manifest, dropped, err := MergeStream(agg, indices, ss, func(t int, merged []float32) error {
		out[t] = slices.Clone(merged)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return out, manifest, dropped, nil
}

// Streamed is one accepted slice offered to MergeStream: what the merge
// needs before it reads any tensor, and a way to read each tensor, so that a
// lead never holds every slice of a window decoded at once.
type Streamed struct {
	UID     UID
	Hotkey  Hotkey
	Payload Hash
	// Delta is DeltaHash of the values (or another collision-resistant
	// digest of them, the same function for every contribution of a merge):
	// contributions with equal Delta are copies of each other.
	Delta Hash
	// Norm is Norm of the values.
	Norm float64
	// Values, when not nil, are the tensors in memory (as in Contribution);
	// otherwise Read is called.
	Values [][]float32
	// Read fills dst (len(indices[t])) with tensor t's values. MergeStream
	// calls it at most once per tensor, in layout order, for each
	// contribution; the reads of different contributions run concurrently
	// (up to GOMAXPROCS at once).
	Read func(t int, dst []float32) error
}

// MergeStream is the lead's merge (SPEC.md §9) streamed tensor by tensor:
// contributions are sorted by uid, every member of a group with the same
// Delta is dropped, the rest are clipped by agg.Scales of their norms and
// merged one tensor at a time. emit receives each merged tensor in layout
// order; merged is reused once emit returns. It returns the manifest of the
// contributions used and the uids dropped as duplicates. The result is the
// same bits as MergeSlices for the same values, in any input order.
//
// Working memory: one buffer of the largest tensor per kept contribution
// read through Read, one merged tensor, and the aggregator's columns —
// O(miners × the largest tensor's slice), not O(miners × the slice).
func MergeStream(agg Aggregator, indices Indices, contributions []Streamed, emit func(t int, merged []float32) error) ([]ManifestEntry, []UID, error) {
	cs := slices.Clone(contributions)
	slices.SortFunc(cs, func(a, b Streamed) int { return int(a.UID) - int(b.UID) })
	groups := map[Hash]int{}
	for i, c := range cs {
		if i > 0 && cs[i-1].UID == c.UID {
			return nil, nil, fmt.Errorf("bistro: uid %d contributes twice", c.UID)
		}
		groups[c.Delta]++
	}
	var kept []Streamed
	var dropped []UID
	var manifest []ManifestEntry
	for _, c := range cs {
		if groups[c.Delta] > 1 {
			dropped = append(dropped, c.UID)
			continue
		}
		kept = append(kept, c)
		manifest = append(manifest, ManifestEntry{UID: c.UID, Hotkey: c.Hotkey, Payload: c.Payload})
	}
	norms := make([]float64, len(kept))
	for i, c := range kept {
		norms[i] = c.Norm
	}
	scales := agg.Scales(norms)
	largest := 0
	for _, ix := range indices {
		largest = max(largest, len(ix))
	}
	bufs := make([][]float32, len(kept))
	inputs := make([][]float32, len(kept))
	merged := make([]float32, largest)
	var reads []int // the contributions read through Read
	for i, c := range kept {
		switch {
		case c.Values != nil:
			if len(c.Values) != len(indices) {
				return nil, nil, fmt.Errorf("%w: uid %d has %d tensors, want %d", ErrWrongShape, c.UID, len(c.Values), len(indices))
			}
		case c.Read != nil:
			bufs[i] = make([]float32, largest)
			reads = append(reads, i)
		default:
			return nil, nil, fmt.Errorf("bistro: merge: uid %d has neither Values nor Read", c.UID)
		}
	}
	errs := make([]error, len(kept))
	for t, ix := range indices {
		// The reads of tensor t, spread over the CPUs (file reads and their
		// copies are most of a streamed merge's time beside the merge
		// itself); the first failing contribution in uid order is the error.
		forEach(len(reads), func(k int) {
			i := reads[k]
			errs[i] = kept[i].Read(t, bufs[i][:len(ix)])
		})
		for i, c := range kept {
			if errs[i] != nil {
				return nil, nil, fmt.Errorf("bistro: merge: uid %d tensor %d: %w", c.UID, t, errs[i])
			}
			v := bufs[i]
			if v == nil {
				v = c.Values[t]
			} else {
				v = v[:len(ix)]
			}
			if len(v) != len(ix) {
				return nil, nil, fmt.Errorf("%w: uid %d tensor %d has %d values, want %d", ErrWrongShape, c.UID, t, len(v), len(ix))
			}
			inputs[i] = v
		}
		agg.Merge(merged[:len(ix)], inputs, scales)
		if err := emit(t, merged[:len(ix)]); err != nil {
			return nil, nil, err
		}
	}
	return manifest, dropped, nil
}

// forEach calls fn(k) for every k in [0, n) on up to GOMAXPROCS goroutines
// and returns when all are done.
func forEach(n int, fn func(k int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for k := range n {
			fn(k)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				fn(k)
			}
		})
	}
	wg.Wait()
}

// ThetaHash returns the SHA-256 of a model's full parameters θ (SPEC.md
// §8.4): SHA-256(u8 len ‖ "bistro/theta" ‖ layout digest ‖ every tensor's
// float32 little-endian bytes in layout order). It reads one tensor at a time.
func ThetaHash(m Model) (Hash, error) {
	layout := m.Layout()
	h := newThetaHasher(layout)
	var buf []float32
	for t, spec := range layout {
		buf = slices.Grow(buf[:0], spec.Len())[:spec.Len()]
		if err := m.Read(t, buf); err != nil {
			return Hash{}, err
		}
		h.Write(f32Bytes(buf))
	}
	var out Hash
	h.Sum(out[:0])
	return out, nil
}

// thetaHashOf is ThetaHash of tensors held in memory (a checkpoint's).
func thetaHashOf(layout Layout, tensors [][]float32) Hash {
	h := newThetaHasher(layout)
	for _, v := range tensors {
		h.Write(f32Bytes(v))
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

func newThetaHasher(layout Layout) hash.Hash {
	h := sha256.New()
	const domain = "bistro/theta"
	h.Write([]byte{byte(len(domain))})
	h.Write([]byte(domain))
	ld := layout.Digest()
	h.Write(ld[:])
	return h
}

// TouchedHash returns H("bistro/touched", for each tensor: u64 count ‖ the
// float32 values of m at indices) — the state of the coordinates an
// aggregate changed, after it was applied.
func TouchedHash(m Tensors, indices Indices) (Hash, error) {
	return touchedHash("bistro/touched", indices, m)
}

// touchedHash is H(domain, for each tensor: u64 count ‖ the float32 values
// of each source at indices, in order).
func touchedHash(domain string, indices Indices, sources ...Tensors) (Hash, error) {
	h := sha256.New()
	h.Write([]byte{byte(len(domain))})
	h.Write([]byte(domain))
	var buf []float32
	var n [8]byte
	for t, idx := range indices {
		buf = slices.Grow(buf[:0], len(idx))[:len(idx)]
		binary.LittleEndian.PutUint64(n[:], uint64(len(idx)))
		h.Write(n[:])
		for _, m := range sources {
			if err := m.Gather(t, idx, buf); err != nil {
				return Hash{}, err
			}
			h.Write(f32Bytes(buf))
		}
	}
	var out Hash
	h.Sum(out[:0])
	return out, nil
}

// NextState is one step of the state digest chain (SPEC.md §8.4):
// d(w+1) = H("bistro/state", d(w) ‖ payload hash of aggregate(w−1) ‖
// touched hash of base(w+1)). The digests of windows 0 and 1 are the
// genesis digest.
func NextState(prev, aggregatePayload, touched Hash) Hash {
	h := newHasher("bistro/state")
	h.raw(prev[:])
	h.raw(aggregatePayload[:])
	h.raw(touched[:])
	return h.sum()
}

// ErrNormBound is returned by CheckNorm for a slice outside the norm bounds.
var ErrNormBound = errors.New("bistro: slice norm out of bounds")

// CheckNorm is the cheap norm check of a slice of window w (SPEC.md §10):
// the slice's norm must lie within NormBounds. Under InnerSGD that is
// ‖slice‖ ≤ max_norm_factor·H·step_lr(w)·clip_norm (H inner steps of at most
// step_lr·clip_norm each) and, when min_norm_factor > 0,
// ‖slice‖ ≥ min_norm_factor·step_lr(w)·clip_norm·√f.
func CheckNorm(p *Params, w uint64, values [][]float32) error {
	return checkNormOf(p, w, Norm(values))
}

// checkNormOf is CheckNorm given the norm.
func checkNormOf(p *Params, w uint64, n float64) error {
	lo, hi := NormBounds(p, w)
	if n > hi {
		return fmt.Errorf("%w: %.4g > %.4g", ErrNormBound, n, hi)
	}
	if n < lo {
		return fmt.Errorf("%w: %.4g < %.4g", ErrNormBound, n, lo)
	}
	return nil
}

// NormBounds returns CheckNorm's bounds for window w (SPEC.md §10.1). Under
// InnerSGD, with b = step_lr(w)·clip_norm: lo = min_norm_factor·b·√f and
// hi = max_norm_factor·H·b. Under InnerAdamWV1 a step moves each coordinate
// by about step_lr whatever the gradient's norm, and its weight decay by an
// amount that depends on θ: b = step_lr(w)·√parameters, the same lo, and no
// upper bound (hi = +Inf; the aggregator's clip to c × the median norm still
// bounds any one slice's weight in the merge).
func NormBounds(p *Params, w uint64) (lo, hi float64) {
	if p.InnerOptimizer.Kind == InnerAdamWV1 {
		b := p.StepLR(w) * math.Sqrt(float64(p.Model.Parameters))
		return p.Checks.MinNormFactor * b * math.Sqrt(p.SliceFraction), math.Inf(1)
	}
	b := p.StepLR(w) * p.ClipNorm
	return p.Checks.MinNormFactor * b * math.Sqrt(p.SliceFraction), p.Checks.MaxNormFactor * float64(max(p.InnerSteps, 1)) * b
}
