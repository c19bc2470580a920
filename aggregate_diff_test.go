package bistro

import (
	"math"
	"runtime"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceTrimmedMerge is TrimmedMean.Merge as first written (sort every
// coordinate, sum the kept values in ascending order): the definition the
// selection-based Merge must reproduce bit for bit.
func referenceTrimmedMerge(a TrimmedMean, dst []float32, inputs [][]float32, scales []float64) {
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
		if n > 48 {
			sort.Float64s(col)
		} else {
			for i := 1; i < n; i++ {
				x := col[i]
				k := i
				for ; k > 0 && col[k-1] > x; k-- {
					col[k] = col[k-1]
				}
				col[k] = x
			}
		}
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

// diffValue draws a float32 from a mix meant to break a selection or an
// exactness shortcut: ties, ±0, subnormals, huge values, values of very
// different magnitude, Inf (and NaN when nan is set).
func diffValue(r *Rand, nan bool) float32 {
	switch r.Below(16) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return math.Float32frombits(uint32(r.Below(1 << 23))) // subnormal
	case 3:
		return -math.Float32frombits(uint32(r.Below(1 << 23)))
	case 4:
		return float32(r.Below(5)) * 0.25 // ties
	case 5:
		return 3e38 * float32(int(r.Below(3))-1)
	case 6:
		if nan {
			return float32(math.NaN())
		}
		return float32(math.Inf(1 - 2*int(r.Below(2))))
	case 7:
		return math.Float32frombits(uint32(r.Below(1 << 32))) // anything, NaN/Inf filtered below
	case 8, 9:
		return float32(int(r.Below(1<<20))-1<<19) / (1 << 30) // a gradient-like range
	default:
		return float32(int(r.Below(1<<24))-1<<23) * 1e-9 * float32(1+r.Below(3))
	}
}

// eachMergeKernel runs f with every kernel TrimmedMean.Merge can use on this
// machine: the portable code, then each vector kernel the CPU has (AVX2
// included where AVX-512F is there too).
func eachMergeKernel(t *testing.T, f func(t *testing.T)) {
	saved := mergeKernel
	t.Cleanup(func() { mergeKernel = saved })
	for _, k := range append([]*vectorKernel{nil}, vectorKernels()...) {
		name := "portable"
		if k != nil {
			name = k.name
		}
		mergeKernel = k
		t.Run(name, f)
	}
}

func TestTrimmedMeanMatchesReference(t *testing.T) {
	eachMergeKernel(t, testTrimmedMeanMatchesReference)
}

func testTrimmedMeanMatchesReference(t *testing.T) {
	r := NewRand(Hash{0xd1})
	for trial := 0; trial < 600; trial++ {
		n := 1 + int(r.Below(70))
		if trial%50 == 0 {
			n = 256
		}
		m := 1 + int(r.Below(700))
		agg := TrimmedMean{ClipFactor: 2, Trim: float64(r.Below(50)) / 100, MedianBelow: int(r.Below(8))}
		nonFinite := trial%3 == 0
		nan := trial%9 == 0
		inputs := make([][]float32, n)
		scales := make([]float64, n)
		for i := range inputs {
			inputs[i] = make([]float32, m)
			for j := range inputs[i] {
				v := diffValue(r, nan)
				if !nonFinite && (math.IsInf(float64(v), 0) || math.IsNaN(float64(v))) {
					v = 1
				}
				if !nan && math.IsNaN(float64(v)) {
					v = -2
				}
				inputs[i][j] = v
			}
			scales[i] = 1
			if trial%2 == 1 && r.Below(4) == 0 {
				scales[i] = float64(1+r.Below(1<<20)) / (1 << 21)
			}
		}
		// Columns of a single, narrow distribution too: the common case.
		if trial%4 == 2 {
			for i := range inputs {
				for j := range inputs[i] {
					inputs[i][j] = 0.01*float32(j%7-3) + float32(r.Below(1000))*2e-6
				}
			}
		}
		want := make([]float32, m)
		got := make([]float32, m)
		referenceTrimmedMerge(agg, want, inputs, scales)
		agg.Merge(got, inputs, scales)
		for j := range want {
			if math.Float32bits(want[j]) != math.Float32bits(got[j]) {
				col := make([]float64, n)
				for i := range inputs {
					col[i] = float64(inputs[i][j]) * scales[i]
				}
				require.Failf(t, "merge differs from the reference", "trial %d n=%d trim=%v coord %d: got %v (%08x), want %v (%08x); column %v",
					trial, n, agg.Trim, j, got[j], math.Float32bits(got[j]), want[j], math.Float32bits(want[j]), col)
			}
		}
	}
}

// The inexact path: values spanning many binades whose ascending sum rounds.
func TestTrimmedMeanInexactColumns(t *testing.T) { eachMergeKernel(t, testTrimmedMeanInexactColumns) }

func testTrimmedMeanInexactColumns(t *testing.T) {
	agg := TrimmedMean{ClipFactor: 2, Trim: 0.1, MedianBelow: 3}
	r := NewRand(Hash{0xd2})
	for trial := 0; trial < 200; trial++ {
		n := 10 + int(r.Below(60))
		inputs := make([][]float32, n)
		scales := make([]float64, n)
		for i := range inputs {
			inputs[i] = make([]float32, 64)
			for j := range inputs[i] {
				e := int(r.Below(80)) - 40
				inputs[i][j] = float32(math.Ldexp(float64(1+r.Below(1<<23))/(1<<23), e)) * float32(1-2*int(r.Below(2)))
			}
			scales[i] = 1 - float64(r.Below(3))/7
		}
		want := make([]float32, 64)
		got := make([]float32, 64)
		referenceTrimmedMerge(agg, want, inputs, scales)
		agg.Merge(got, inputs, scales)
		for j := range want {
			require.Equal(t, math.Float32bits(want[j]), math.Float32bits(got[j]), "trial %d coord %d", trial, j)
		}
	}
}

func TestMergeStreamMatchesMergeSlices(t *testing.T) {
	idx := Indices{make([]uint32, 300), make([]uint32, 17), make([]uint32, 1)}
	cs := honestSlices(idx, 23, 7)
	cs = append(cs, Contribution{UID: 99, Values: cs[3].Values}) // a copy: both dropped
	cs[5].Values[0][11] = 3e30
	agg := TrimmedMean{ClipFactor: 2, Trim: 0.2, MedianBelow: 5}
	want, wantManifest, wantDropped, err := MergeSlices(agg, idx, cs)
	require.NoError(t, err)
	ss := make([]Streamed, len(cs))
	for i, c := range cs {
		ss[len(cs)-1-i] = Streamed{UID: c.UID, Hotkey: c.Hotkey, Payload: c.Payload, Delta: DeltaHash(c.Values), Norm: Norm(c.Values),
			Read: func(t int, dst []float32) error { copy(dst, c.Values[t]); return nil }}
	}
	got := make([][]float32, len(idx))
	manifest, dropped, err := MergeStream(agg, idx, ss, func(t int, m []float32) error {
		got[t] = append([]float32(nil), m...)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, wantManifest, manifest)
	require.Equal(t, wantDropped, dropped)
	require.Equal(t, []UID{3 * 2, 99}, dropped)
	for ti := range want {
		for j := range want[ti] {
			require.Equal(t, math.Float32bits(want[ti][j]), math.Float32bits(got[ti][j]))
		}
	}
}

// Ties of +0 and −0 (a compare-exchange may swap or duplicate them), runs of
// equal values, ±Inf and NaN in some blocks only, zero scales (Inf × 0 is
// NaN), and contribution counts around the powers of two the network pads to.
func TestTrimmedMeanTiesAndCounts(t *testing.T) {
	eachMergeKernel(t, func(t *testing.T) {
		r := NewRand(Hash{0xd3})
		zeros := []float32{0, float32(math.Copysign(0, -1))}
		for _, n := range []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 300, 513} {
			for _, trim := range []float64{0, 0.1, 0.2, 0.25, 0.49, 0.5} {
				agg := TrimmedMean{ClipFactor: 2, Trim: trim, MedianBelow: 1}
				m := 1 + int(r.Below(90))
				inputs := make([][]float32, n)
				scales := make([]float64, n)
				for i := range inputs {
					inputs[i] = make([]float32, m)
					for j := range inputs[i] {
						switch {
						case j%8 < 3: // zeros of both signs, a few other values
							inputs[i][j] = zeros[r.Below(2)]
							if r.Below(6) == 0 {
								inputs[i][j] = float32(int(r.Below(3))-1) * 0.5
							}
						case j%8 == 3:
							inputs[i][j] = float32(int(r.Below(3)) - 1)
						case j%16 == 4 && r.Below(uint64(n)) == 0:
							inputs[i][j] = float32(math.NaN())
						case j%16 == 12 && r.Below(4) == 0:
							inputs[i][j] = float32(math.Inf(1 - 2*int(r.Below(2))))
						default:
							inputs[i][j] = diffValue(r, false)
						}
					}
					scales[i] = 1
					switch mode := (n + int(trim*100)) % 3; {
					case mode == 0:
						continue // every scale 1: the float32 kernels
					case mode == 1:
						// A few clipped (the mixed kernels), some with
						// values equal to others' after scaling.
						if i < 1+n%9 && i < n-1 {
							scales[i] = []float64{0.5, 0.25, 0.3, 1e-3}[r.Below(4)]
						}
						continue
					}
					switch r.Below(8) {
					case 0:
						scales[i] = 0
					case 1:
						scales[i] = float64(1+r.Below(1<<20)) / (1 << 21)
					}
				}
				want := make([]float32, m)
				got := make([]float32, m)
				referenceTrimmedMerge(agg, want, inputs, scales)
				agg.Merge(got, inputs, scales)
				for j := range want {
					require.Equal(t, math.Float32bits(want[j]), math.Float32bits(got[j]), "n=%d trim=%v coord %d", n, trim, j)
				}
			}
		}
	})
}

// The plans sort: every pass of every network, run in Go, on random rows.
func TestTrimPlanSorts(t *testing.T) {
	r := NewRand(Hash{0xd4})
	for _, group := range []int{8, 16} {
		for rows := group; rows <= 2048; rows *= 2 {
			pl := newTrimPlan(rows, group, 8)
			for trial := 0; trial < 20; trial++ {
				v := make([]float64, rows)
				for i := range v {
					v[i] = float64(r.Below(uint64(rows / 2)))
				}
				for k, p := range pl.passes {
					tab := pl.tabs[k]
					for g := 0; g < p.groups; g++ {
						reg := make([]float64, group)
						for i := range reg {
							reg[i] = v[tab[g*group+i]/8]
						}
						for _, st := range passSteps(p.kind, group) {
							for i := range reg {
								if j := i ^ st; j > i && (st&(st+1) != 0 || i&((st+1)>>1) == 0) {
									reg[i], reg[j] = min(reg[i], reg[j]), max(reg[i], reg[j])
								}
							}
						}
						for i := range reg {
							v[tab[g*group+i]/8] = reg[i]
						}
					}
				}
				require.True(t, sort.Float64sAreSorted(v), "rows %d group %d: %v", rows, group, v)
			}
		}
	}
}

// passSteps returns the register masks of a pass kind's steps, in order, as
// aggregate_gen.go emits them: a mask 2^s − 1 compares r (bit s−1 clear)
// with r ^ mask, a single bit 2^q compares r (bit q clear) with r + 2^q.
func passSteps(kind, group int) []int {
	var steps []int
	flip := func(s int) {
		steps = append(steps, 1<<s-1)
		for q := s - 2; q >= 0; q-- {
			steps = append(steps, 1<<q)
		}
	}
	switch {
	case kind == 0:
		for s := 1; 1<<(s-1) < group; s++ {
			flip(s)
		}
	case kind <= 4:
		flip(kind)
	default:
		for q := kind - 5; q >= 0; q-- {
			steps = append(steps, 1<<q)
		}
	}
	return steps
}

// The merge is the same bits on any number of CPUs: every coordinate is
// computed by one goroutine on its own, whatever the chunking.
func TestTrimmedMeanGOMAXPROCS(t *testing.T) {
	eachMergeKernel(t, func(t *testing.T) {
		r := NewRand(Hash{0xd5})
		n, m := 37, 3*vectorChunk+13
		inputs := make([][]float32, n)
		scales := make([]float64, n)
		for i := range inputs {
			inputs[i] = make([]float32, m)
			for j := range inputs[i] {
				inputs[i][j] = diffValue(r, true)
			}
			scales[i] = 1
			if i%5 == 0 {
				scales[i] = 0.75
			}
		}
		agg := TrimmedMean{ClipFactor: 2, Trim: 0.2, MedianBelow: 5}
		want := make([]float32, m)
		referenceTrimmedMerge(agg, want, inputs, scales)
		for _, procs := range []int{1, 2, 3, 8} {
			prev := runtime.GOMAXPROCS(procs)
			got := make([]float32, m)
			agg.Merge(got, inputs, scales)
			runtime.GOMAXPROCS(prev)
			for j := range want {
				require.Equal(t, math.Float32bits(want[j]), math.Float32bits(got[j]), "GOMAXPROCS %d coord %d", procs, j)
			}
		}
	})
}

// The mixed kernels take a few clipped contributions, fewer as N shrinks.
func TestMixedPays(t *testing.T) {
	for _, c := range []struct {
		scaled, n, trim int
		want            bool
	}{
		{1, 256, 51, true}, {7, 256, 51, true}, {8, 256, 51, false},
		{1, 64, 12, true}, {4, 64, 12, true}, {5, 64, 12, false},
		{1, 2, 0, false}, {64, 64, 12, false},
	} {
		require.Equal(t, c.want, mixedPays(c.scaled, c.n, c.trim), "%+v", c)
	}
}
