//go:build openblas

package openblas

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

func init() {
	// One thread per call: the trainers parallelise across sequences, and
	// OpenBLAS's own threads would compete with their workers.
	C.openblas_set_num_threads(1)
}

// Mul sets c (m×n, row-major) = op(a)·op(b) with cblas_sgemm, op
// transposing when ta or tb is set: a is m×k (k×m when ta), b is k×n (n×k
// when tb), all row-major and dense.
func Mul(ta, tb bool, c, a, b []float32, m, k, n int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	tA, lda := blas.NoTrans, k
	if ta {
		tA, lda = blas.Trans, m
	}
	tB, ldb := blas.NoTrans, n
	if tb {
		tB, ldb = blas.Trans, k
	}
	netlib.Implementation{}.Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, n)
}
