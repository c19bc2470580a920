package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/require"
)

// sgemmShapes cover every edge of the blocking in sgemm.go: whole and
// partial register blocks in rows and columns, K slabs (sgKC) and row
// blocks (sgMC) with remainders, both sides of nt's choice to transpose,
// and the GPT's own shapes.
var sgemmShapes = [][3]int{
	{1, 1, 1}, {1, 1, 17}, {5, 3, 15}, {6, 1, 16}, {6, 7, 16}, {7, 9, 17}, {12, 2, 32},
	{13, 31, 33}, {17, 255, 47}, {18, 256, 48}, {19, 257, 49}, {121, 30, 20},
	{120, 513, 16}, {245, 64, 100}, {64, 64, 64}, {65, 64, 65}, {3, 600, 200},
	{200, 600, 3}, {64, 256, 768}, {71, 1024, 256}, {128, 256, 300},
}

// special mixes values that test the rounding rules: signed zeros (a sum
// from +0 turns −0 products into +0), subnormals, and magnitudes whose
// products overflow to ±Inf or underflow.
func special(r interface{ Uint64() uint64 }, n int) []float32 {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -3e-39, 1e38, -2e38, 1e-30, 3}
	s := make([]float32, n)
	for i := range s {
		u := r.Uint64()
		if u%7 == 0 {
			s[i] = vals[(u>>8)%uint64(len(vals))]
		} else {
			s[i] = float32(float64(u>>11)/(1<<52)*2 - 1)
		}
	}
	return s
}

// sameBitsNaN is sameBits32 with every NaN equal to every other: which
// operand's NaN payload a product keeps is not part of the contract.
func sameBitsNaN(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i])) {
			continue
		}
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// The assembly products give the naive loop's bits on every shape, for
// nn, tn and nt, ordinary and special values, with one sgemm reused across
// shapes (stale packing buffers must not leak into results).
func TestSgemmMatchesNaive(t *testing.T) {
	if !useSgemm {
		t.Skip("no assembly kernel in this build or on this CPU")
	}
	var s sgemm
	r := testRand(9)
	for _, vals := range []string{"uniform", "special"} {
		for _, sh := range sgemmShapes {
			m, k, n := sh[0], sh[1], sh[2]
			gen := uniform[float32]
			if vals == "special" {
				gen = func(r *bistro.Rand, n int) []float32 { return special(r, n) }
			}
			a, at, b, bt := gen(r, m*k), gen(r, k*m), gen(r, k*n), gen(r, n*k)
			name := fmt.Sprintf("%s %dx%dx%d", vals, m, k, n)
			got := uniform[float32](r, m*n)
			want := make([]float32, m*n)

			s.nn(got, a, b, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return a[i*k+p] }, func(p, j int) float32 { return b[p*n+j] })
			require.True(t, sameBitsNaN(want, got), "nn %s", name)

			s.tn(got, at, b, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return at[p*m+i] }, func(p, j int) float32 { return b[p*n+j] })
			require.True(t, sameBitsNaN(want, got), "tn %s", name)

			s.nt(got, a, bt, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return a[i*k+p] }, func(p, j int) float32 { return bt[j*k+p] })
			require.True(t, sameBitsNaN(want, got), "nt %s", name)
		}
	}
}

// A product with k = 0 is zero, and the kernels write nothing outside C.
func TestSgemmEdges(t *testing.T) {
	if !useSgemm {
		t.Skip("no assembly kernel in this build or on this CPU")
	}
	var s sgemm
	c := []float32{1, 2, 3, 4, 5, 6, 7}
	s.nn(c[:6], nil, nil, 2, 0, 3)
	require.Equal(t, []float32{0, 0, 0, 0, 0, 0, 7}, c)
	r := testRand(10)
	const m, k, n = 7, 5, 9
	a, b := uniform[float32](r, m*k), uniform[float32](r, k*n)
	buf := uniform[float32](r, m*n+5)
	guard := append([]float32(nil), buf[m*n:]...)
	s.nn(buf[:m*n], a, b, m, k, n)
	require.Equal(t, guard, buf[m*n:])
}

// transpose moves every element, whole 8×8 blocks and edges alike.
func TestTranspose(t *testing.T) {
	if !useSgemm {
		t.Skip("no assembly kernel in this build or on this CPU")
	}
	r := testRand(12)
	for _, sh := range [][2]int{{1, 1}, {8, 8}, {3, 17}, {16, 9}, {24, 40}, {33, 65}} {
		rows, cols := sh[0], sh[1]
		src := uniform[float32](r, rows*cols)
		dst := uniform[float32](r, rows*cols)
		transpose(dst, src, rows, cols)
		for i := range rows {
			for j := range cols {
				require.Equal(t, src[i*cols+j], dst[j*rows+i], "%dx%d (%d, %d)", rows, cols, i, j)
			}
		}
	}
}
