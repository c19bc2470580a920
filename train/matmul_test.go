package train

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/require"
	_ "go4.org/unsafe/assume-no-moving-gc" // gorgonia.org/tensor panics at start on Go ≥ 1.22 without it
	"gorgonia.org/tensor"
)

// testRand returns a generator for test data, seeded by a small integer.
func testRand(seed byte) *bistro.Rand {
	return bistro.NewRand(bistro.Hash{seed, 0x7e})
}

// uniform returns n values uniform in [−1, 1).
func uniform[T float](r *bistro.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(float64(r.Uint64()>>11)/(1<<52) - 1)
	}
	return s
}

// naive computes c (m×n) = Σ_p A(i, p)·B(p, j) by the reference loop of
// matmul.go, with A and B given as accessors.
func naive[T float](c []T, m, k, n int, A, B func(i, j int) T) {
	for i := range m {
		for j := range n {
			var s T
			for p := range k {
				s += T(A(i, p) * B(p, j))
			}
			c[i*n+j] = s
		}
	}
}

func sameBits32(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

func sameBits64(a, b []float64) bool {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

var shapes = [][3]int{{1, 1, 1}, {1, 5, 3}, {2, 4, 4}, {3, 7, 5}, {5, 1, 9}, {9, 13, 6}, {17, 33, 11}, {64, 40, 70}}

func checkKernels[T float](t *testing.T, same func(a, b []T) bool) {
	var w matmul[T] // reused across shapes: stale packing buffers must not leak
	r := testRand(1)
	for _, s := range shapes {
		m, k, n := s[0], s[1], s[2]
		name := fmt.Sprintf("%dx%dx%d", m, k, n)
		a := uniform[T](r, m*k)
		at := uniform[T](r, k*m)
		b := uniform[T](r, k*n)
		bt := uniform[T](r, n*k)
		got := uniform[T](r, m*n) // garbage: the kernels overwrite c
		want := make([]T, m*n)

		w.nn(got, a, b, m, k, n)
		naive(want, m, k, n, func(i, p int) T { return a[i*k+p] }, func(p, j int) T { return b[p*n+j] })
		require.True(t, same(want, got), "nn %s", name)

		w.tn(got, at, b, m, k, n)
		naive(want, m, k, n, func(i, p int) T { return at[p*m+i] }, func(p, j int) T { return b[p*n+j] })
		require.True(t, same(want, got), "tn %s", name)

		w.nt(got, a, bt, m, k, n)
		naive(want, m, k, n, func(i, p int) T { return a[i*k+p] }, func(p, j int) T { return bt[j*k+p] })
		require.True(t, same(want, got), "nt %s", name)

		naiveNN(got, a, b, m, k, n)
		w.nn(want, a, b, m, k, n)
		require.True(t, same(want, got), "naiveNN %s", name)
	}
}

// defaultKernels makes the products run on the default build's kernels
// (not OpenBLAS) until the test ends.
func defaultKernels(t *testing.T) {
	t.Helper()
	old := useBLAS
	useBLAS = false
	t.Cleanup(func() { useBLAS = old })
}

// The blocked kernels give the bits of the naive loop, in both precisions.
func TestKernelsMatchNaive(t *testing.T) {
	defaultKernels(t)
	checkKernels(t, sameBits32)
	checkKernels(t, sameBits64)
}

func gorgoniaMatMul[T float](t testing.TB, a, b []T, m, k, n int) []T {
	ta := tensor.New(tensor.WithShape(m, k), tensor.WithBacking(append([]T(nil), a...)))
	tb := tensor.New(tensor.WithShape(k, n), tensor.WithBacking(append([]T(nil), b...)))
	tc, err := tensor.MatMul(ta, tb)
	require.NoError(t, err)
	return tc.Data().([]T)
}

// Our kernels agree with gorgonia's MatMul to rounding: in float64 the two
// summation orders differ by a few ulps of the terms' magnitude.
func TestKernelsMatchGorgonia(t *testing.T) {
	var w matmul[float64]
	r := testRand(2)
	for _, s := range shapes {
		m, k, n := s[0], s[1], s[2]
		a, b := uniform[float64](r, m*k), uniform[float64](r, k*n)
		got := make([]float64, m*n)
		w.nn(got, a, b, m, k, n)
		want := gorgoniaMatMul(t, a, b, m, k, n)
		for i := range got {
			require.InDelta(t, want[i], got[i], 1e-13*float64(k), "%v element %d", s, i)
		}
	}
}

// gorgonia's float32 MatMul (gonum's Sgemm) is deterministic across
// GOMAXPROCS on one machine: it parallelises over 64×64 blocks of C and walks
// k in order inside each. This test pins that observation for a size that
// takes its parallel path; our kernels do not rely on it (see matmul.go).
func TestGorgoniaMatMulGOMAXPROCS(t *testing.T) {
	const m, k, n = 192, 160, 192
	r := testRand(3)
	a, b := uniform[float32](r, m*k), uniform[float32](r, k*n)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one := gorgoniaMatMul(t, a, b, m, k, n)
	runtime.GOMAXPROCS(2)
	two := gorgoniaMatMul(t, a, b, m, k, n)
	require.True(t, sameBits32(one, two), "gorgonia MatMul bits depend on GOMAXPROCS")
}

// BenchmarkMatMul reports GFLOP/s of single float32 products: the shapes
// of the MLP benchmark (rows × C·E × H, rows × H × V) and of the GPT's
// layers on a sequence of 64 tokens (GPTTiny's MLP, GPT-2 124M's fused qkv
// and MLP projection), each as nn, tn and nt, on every kernel of the build:
//
//	naive     the reference triple loop (MLP shapes only)
//	portable  matmul.go's blocked pure-Go kernel (-tags purego, other CPUs)
//	asm       the AVX2 assembly kernel (sgemm_amd64.s), where the CPU has it
//	asm512    the AVX-512F assembly kernel (sgemm512_amd64.s), where the CPU
//	          has it: its ratio to asm is the gain of AVX-512
//	openblas  OpenBLAS's sgemm (-tags openblas)
//	gorgonia  gorgonia.org/tensor's MatMul (gonum), at GOMAXPROCS 1 and 2
//
// Every kernel but openblas and gorgonia gives the naive loop's bits.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, k, n int
	}{
		{"mlp-hidden", 256, 128, 128},
		{"mlp-out", 256, 128, 256},
		{"tiny-fc", 64, 256, 1024},
		{"gpt2-qkv", 64, 768, 2304},
		{"gpt2-fcproj", 64, 3072, 768},
	} {
		m, k, n := s.m, s.k, s.n
		r := testRand(4)
		a, bb := uniform[float32](r, m*k), uniform[float32](r, k*n)
		at, bt := uniform[float32](r, k*m), uniform[float32](r, n*k)
		c := make([]float32, m*n)
		flop := 2 * float64(m) * float64(k) * float64(n)
		report := func(b *testing.B) {
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		if m*k*n <= 1<<23 {
			b.Run(s.name+"/nn/naive", func(b *testing.B) {
				for b.Loop() {
					naiveNN(c, a, bb, m, k, n)
				}
				report(b)
			})
		}
		type kernel struct {
			name               string
			sgemm, bls, avx512 bool
		}
		kernels := []kernel{{"portable", false, false, false}}
		if haveSgemm {
			kernels = append(kernels, kernel{"asm", true, false, false})
		}
		if haveAVX512 {
			kernels = append(kernels, kernel{"asm512", true, false, true})
		}
		if haveBLAS {
			kernels = append(kernels, kernel{"openblas", haveSgemm, true, false})
		}
		for _, kern := range kernels {
			var w matmul[float32]
			for _, op := range []string{"nn", "tn", "nt"} {
				b.Run(s.name+"/"+op+"/"+kern.name, func(b *testing.B) {
					defer func(s, l, x bool) { useSgemm, useBLAS, useAVX512 = s, l, x }(useSgemm, useBLAS, useAVX512)
					useSgemm, useBLAS, useAVX512 = kern.sgemm, kern.bls, kern.avx512
					for b.Loop() {
						switch op {
						case "nn":
							w.nn(c, a, bb, m, k, n)
						case "tn":
							w.tn(c, at, bb, m, k, n)
						case "nt":
							w.nt(c, a, bt, m, k, n)
						}
					}
					report(b)
				})
			}
		}
		for _, procs := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/nn/gorgonia/procs=%d", s.name, procs), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				ta := tensor.New(tensor.WithShape(m, k), tensor.WithBacking(a))
				tb := tensor.New(tensor.WithShape(k, n), tensor.WithBacking(bb))
				tc := tensor.New(tensor.WithShape(m, n), tensor.WithBacking(c))
				for b.Loop() {
					if _, err := tensor.MatMul(ta, tb, tensor.WithReuse(tc)); err != nil {
						b.Fatal(err)
					}
				}
				report(b)
			})
		}
	}
}
