package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/require"
)

// sgemmShapes cover every edge of the blocking in sgemm.go: whole and
// partial register blocks in rows and columns, K slabs (kc) and row
// blocks (mc) with remainders, both sides of nt's choice to transpose,
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

// forAsmKernels runs f once per assembly register block this CPU has
// (AVX2, and AVX-512 where present), with useAVX512 set accordingly, and
// skips when the build or the CPU has none.
func forAsmKernels(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if !useSgemm {
		t.Skip("no assembly kernel in this build or on this CPU")
	}
	for _, on := range []bool{false, true} {
		name := "avx2"
		if on {
			name = "avx512"
		}
		t.Run(name, func(t *testing.T) {
			if on && !haveAVX512 {
				t.Skip("no AVX-512F on this CPU")
			}
			defer func(old bool) { useAVX512 = old }(useAVX512)
			useAVX512 = on
			f(t)
		})
	}
}

// The assembly products give the naive loop's bits on every shape, for
// nn, tn and nt, ordinary and special values, with one sgemm reused across
// shapes (stale packing buffers must not leak into results), on every
// register block.
func TestSgemmMatchesNaive(t *testing.T) {
	forAsmKernels(t, testSgemmMatchesNaive)
}

func testSgemmMatchesNaive(t *testing.T) {
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
	forAsmKernels(t, testSgemmEdges)
}

func testSgemmEdges(t *testing.T) {
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

// Odd leading dimensions and strides (C and A rows wider than the block
// that is computed, B rows wider than n, Bᵀ's rows wider than k), weights
// packed once (packedB) and k = 0, 1 give the naive loop's bits on every
// register block.
func TestSgemmStrides(t *testing.T) {
	forAsmKernels(t, func(t *testing.T) {
		var s sgemm
		r := testRand(14)
		for _, sh := range [][3]int{{1, 1, 1}, {3, 1, 5}, {9, 1, 33}, {7, 2, 31}, {17, 3, 65}, {65, 129, 47}, {15, 300, 40}} {
			m, k, n := sh[0], sh[1], sh[2]
			ldc, lda, ldb := n+3, k+5, n+7
			a, b, bt := special(r, max(m*lda, k*(m+2))), special(r, k*ldb), special(r, n*(k+1))
			c := uniform[float32](r, m*ldc)
			want := make([]float32, m*n)
			name := fmt.Sprintf("%dx%dx%d", m, k, n)
			guard := append([]float32(nil), c...)
			check := func(op string) {
				for i := range m {
					require.True(t, sameBitsNaN(want[i*n:i*n+n], c[i*ldc:i*ldc+n]), "%s %s row %d", op, name, i)
					require.Equal(t, guard[i*ldc+n:i*ldc+ldc], c[i*ldc+n:i*ldc+ldc], "%s %s: wrote past a row", op, name)
				}
			}
			s.run(c, ldc, a, lda, 1, b, ldb, 1, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return a[i*lda+p] }, func(p, j int) float32 { return b[p*ldb+j] })
			check("nn")
			s.run(c, ldc, a, 1, m+2, b, ldb, 1, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return a[p*(m+2)+i] }, func(p, j int) float32 { return b[p*ldb+j] })
			check("tn")
			s.run(c, ldc, a, lda, 1, bt, 1, k+1, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return a[i*lda+p] }, func(p, j int) float32 { return bt[j*(k+1)+p] })
			check("nt")
			var pb packedB
			bd := special(r, k*n)
			pb.pack(bd, k, n)
			s.runPacked(c, ldc, a, lda, 1, nil, 0, 0, &pb, m, k, n)
			naive(want, m, k, n, func(i, p int) float32 { return a[i*lda+p] }, func(p, j int) float32 { return bd[p*n+j] })
			check("packed")
		}
	})
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

// BenchmarkSgemmBlock reports GFLOP/s of the register blocks alone (kc
// steps on operands in L1, C loaded and stored), AVX2 and AVX-512 in the
// same run: the kernels' peak, which BenchmarkMatMul's products approach.
func BenchmarkSgemmBlock(b *testing.B) {
	for _, kr := range []*sgKernel{&sgAVX2, &sgAVX512} {
		b.Run(kr.name, func(b *testing.B) {
			if !haveSgemm || (kr == &sgAVX512 && !haveAVX512) {
				b.Skip("not on this CPU or in this build")
			}
			r := testRand(15)
			k := kr.kc
			a, bp := uniform[float32](r, k*kr.mr), uniform[float32](r, k*kr.nr)
			c := make([]float32, kr.mr*kr.nr)
			for b.Loop() {
				kr.block(k, &a[0], 4, 4*kr.mr, &bp[0], &c[0], 4*kr.nr, true)
			}
			flop := 2 * float64(k*kr.mr*kr.nr)
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
