//go:build !openblas

package train

// haveBLAS is false: this build has no BLAS (build with -tags openblas for
// OpenBLAS).
const haveBLAS = false

func blasMul(ta, tb bool, c, a, b []float32, m, k, n int) {
	panic("train: no BLAS in this build")
}
