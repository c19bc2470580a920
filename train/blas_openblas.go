//go:build openblas

package train

import "github.com/bistro-go/bistro/train/internal/openblas"

// haveBLAS is true in the openblas build: float32 products call OpenBLAS's
// cblas_sgemm (package train/internal/openblas). Its kernels use fused
// multiply-adds and sum in blocks, so Δ differs from the default build's in
// the last bits (TestOpenBLASDelta measures how much), but it is still
// deterministic on one machine: OpenBLAS runs single-threaded (Update
// parallelises across sequences), so its bits do not depend on GOMAXPROCS.
const haveBLAS = true

func blasMul(ta, tb bool, c, a, b []float32, m, k, n int) {
	openblas.Mul(ta, tb, c, a, b, m, k, n)
}
