package bistro

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"sort"
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
func (a TrimmedMean) Merge(dst []float32, inputs [][]float32, scales []float64) {
	n := len(inputs)
	if n == 0 {
		clear(dst)
		return
	}
	col := make([]float64, n)
	median := n < a.MedianBelow
	trim := int(math.Floor(a.Trim * float64(n)))
	if 2*trim >= n {
		trim = (n - 1) / 2
	}
	for j := range dst {
		for i, in := range inputs {
			col[i] = float64(in[j]) * scales[i]
		}
		insertionSort(col)
		if median {
			if n%2 == 1 {
				dst[j] = float32(col[n/2])
			} else {
				dst[j] = float32((col[n/2-1] + col[n/2]) / 2)
			}
			continue
		}
		var sum float64
		for _, v := range col[trim : n-trim] {
			sum += v
		}
		dst[j] = float32(sum / float64(n-2*trim))
	}
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
// The working memory beyond the inputs is one tensor plus one column.
func MergeSlices(agg Aggregator, indices Indices, contributions []Contribution) ([][]float32, []ManifestEntry, []UID, error) {
	cs := slices.Clone(contributions)
	slices.SortFunc(cs, func(a, b Contribution) int { return int(a.UID) - int(b.UID) })
	groups := map[Hash]int{}
	hashes := make([]Hash, len(cs))
	for i, c := range cs {
		if i > 0 && cs[i-1].UID == c.UID {
			return nil, nil, nil, fmt.Errorf("bistro: uid %d contributes twice", c.UID)
		}
		if len(c.Values) != len(indices) {
			return nil, nil, nil, fmt.Errorf("%w: uid %d has %d tensors, want %d", ErrWrongShape, c.UID, len(c.Values), len(indices))
		}
		for t, v := range c.Values {
			if len(v) != len(indices[t]) {
				return nil, nil, nil, fmt.Errorf("%w: uid %d tensor %d has %d values, want %d", ErrWrongShape, c.UID, t, len(v), len(indices[t]))
			}
		}
		hashes[i] = DeltaHash(c.Values)
		groups[hashes[i]]++
	}
	var kept []Contribution
	var dropped []UID
	var manifest []ManifestEntry
	for i, c := range cs {
		if groups[hashes[i]] > 1 {
			dropped = append(dropped, c.UID)
			continue
		}
		kept = append(kept, c)
		manifest = append(manifest, ManifestEntry{UID: c.UID, Hotkey: c.Hotkey, Payload: c.Payload})
	}
	norms := make([]float64, len(kept))
	for i, c := range kept {
		norms[i] = Norm(c.Values)
	}
	scales := agg.Scales(norms)
	out := make([][]float32, len(indices))
	inputs := make([][]float32, len(kept))
	for t := range indices {
		for i, c := range kept {
			inputs[i] = c.Values[t]
		}
		out[t] = make([]float32, len(indices[t]))
		agg.Merge(out[t], inputs, scales)
	}
	return out, manifest, dropped, nil
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
	h := sha256.New()
	const domain = "bistro/touched"
	h.Write([]byte{byte(len(domain))})
	h.Write([]byte(domain))
	var buf []float32
	var n [8]byte
	for t, idx := range indices {
		buf = slices.Grow(buf[:0], len(idx))[:len(idx)]
		if err := m.Gather(t, idx, buf); err != nil {
			return Hash{}, err
		}
		binary.LittleEndian.PutUint64(n[:], uint64(len(idx)))
		h.Write(n[:])
		h.Write(f32Bytes(buf))
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

// ApplyAggregate adds an aggregate's tensors to m at indices.
func ApplyAggregate(m Model, indices Indices, a *File) error {
	if len(a.Tensors) != len(indices) {
		return fmt.Errorf("%w: aggregate of %d tensors for %d", ErrWrongShape, len(a.Tensors), len(indices))
	}
	for t, idx := range indices {
		if err := m.Apply(t, idx, a.Tensors[t]); err != nil {
			return err
		}
	}
	return nil
}

// ErrNormBound is returned by CheckNorm for a slice outside the norm bounds.
var ErrNormBound = errors.New("bistro: slice norm out of bounds")

// CheckNorm is the cheap norm check of a slice of window w (SPEC.md §10):
// ‖slice‖ ≤ max_norm_factor·H·step_lr(w)·clip_norm (H inner steps of at most
// step_lr·clip_norm each) and, when min_norm_factor > 0,
// ‖slice‖ ≥ min_norm_factor·step_lr(w)·clip_norm·√f.
func CheckNorm(p *Params, w uint64, values [][]float32) error {
	n := Norm(values)
	lo, hi := NormBounds(p, w)
	if n > hi {
		return fmt.Errorf("%w: %.4g > %.4g", ErrNormBound, n, hi)
	}
	if n < lo {
		return fmt.Errorf("%w: %.4g < %.4g", ErrNormBound, n, lo)
	}
	return nil
}

// NormBounds returns CheckNorm's bounds for window w: with b =
// step_lr(w)·clip_norm, lo = min_norm_factor·b·√f and hi =
// max_norm_factor·H·b (SPEC.md §10.1).
func NormBounds(p *Params, w uint64) (lo, hi float64) {
	b := p.StepLR(w) * p.ClipNorm
	return p.Checks.MinNormFactor * b * math.Sqrt(p.SliceFraction), p.Checks.MaxNormFactor * float64(max(p.InnerSteps, 1)) * b
}
