package train

// float is the element type of the kernels: float32 in training, float64 in
// the finite-difference checks.
type float interface{ ~float32 | ~float64 }

// The three products the MLP needs, on row-major matrices. Every output
// element is computed in the same order as this loop:
//
//	s := T(0)
//	for p := 0; p < k; p++ { s += T(A[i][p] * B[p][j]) }
//	c[i][j] = s
//
// that is, a sum from zero in ascending p, each product rounded to T before
// it is added (the explicit conversion forbids fusing the multiply and the
// add, which Go would otherwise allow on FMA machines such as arm64). The
// blocking and packing below change the order in which output elements are
// visited, never the order of the terms of one element, so the result is
// bit-identical to the naive loop on every platform and at every GOMAXPROCS.
// The kernels are single-threaded; Update parallelises across micro-batches.
// On amd64 with AVX2, float32 products run on the assembly kernel of
// sgemm.go instead (the same sums, so the same bits); with the openblas
// build tag, on OpenBLAS (other bits; see the package doc).

// The register block: mr rows of A by nr columns of B.
const (
	mr = 2
	nr = 4
)

// matmul holds the packing buffers of one goroutine; the zero value is ready.
// Its float32 products run on the assembly kernel (sgemm.go) where the CPU
// has one, with the same bits.
type matmul[T float] struct {
	ap, bp []T
	sg     sgemm
}

// useBLAS sends the float32 products to OpenBLAS in the openblas build
// (blas_openblas.go); the tests turn it off to compare.
var useBLAS = haveBLAS

// fast returns the assembly kernel's state when T is float32 and the kernel
// is on, else nil.
func (w *matmul[T]) fast() *sgemm {
	if !useSgemm {
		return nil
	}
	if w32, ok := any(w).(*matmul[float32]); ok {
		return &w32.sg
	}
	return nil
}

// blas reports whether the products of w go to OpenBLAS.
func (w *matmul[T]) blas() bool {
	if !useBLAS {
		return false
	}
	_, ok := any(w).(*matmul[float32])
	return ok
}

func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// nn sets c (m×n) = a (m×k) · b (k×n).
func (w *matmul[T]) nn(c, a, b []T, m, k, n int) {
	if w.blas() {
		blasMul(false, false, f32(c), f32(a), f32(b), m, k, n)
		return
	}
	if s := w.fast(); s != nil {
		s.nn(f32(c), f32(a), f32(b), m, k, n)
		return
	}
	w.packB(b, k, n, n, 1)
	w.run(c, a, m, k, n, k, 1)
}

// tn sets c (m×n) = aᵀ · b, a (k×m), b (k×n).
func (w *matmul[T]) tn(c, a, b []T, m, k, n int) {
	if w.blas() {
		blasMul(true, false, f32(c), f32(a), f32(b), m, k, n)
		return
	}
	if s := w.fast(); s != nil {
		s.tn(f32(c), f32(a), f32(b), m, k, n)
		return
	}
	w.packB(b, k, n, n, 1)
	w.run(c, a, m, k, n, 1, m)
}

// nt sets c (m×n) = a · bᵀ, a (m×k), b (n×k).
func (w *matmul[T]) nt(c, a, b []T, m, k, n int) {
	if w.blas() {
		blasMul(false, true, f32(c), f32(a), f32(b), m, k, n)
		return
	}
	if s := w.fast(); s != nil {
		s.nt(f32(c), f32(a), f32(b), m, k, n)
		return
	}
	w.packB(b, k, n, 1, k)
	w.run(c, a, m, k, n, k, 1)
}

// nnPacked is nn with b's packing pb (packedB) when not nil, which only
// the assembly kernel reads; b must be what pb holds.
func (w *matmul[T]) nnPacked(c, a, b []T, pb *packedB, m, k, n int) {
	if pb != nil && !w.blas() {
		if s := w.fast(); s != nil {
			s.nnPacked(f32(c), f32(a), pb, m)
			return
		}
	}
	w.nn(c, a, b, m, k, n)
}

// packB copies B (k×n, element (p, j) at b[p*ps+j*js]) into panels of nr
// columns, bp[(jp*k+p)*nr+jj] = B[p][jp*nr+jj], padded with zeros (padding
// only feeds output columns that are never stored).
func (w *matmul[T]) packB(b []T, k, n, ps, js int) {
	np := (n + nr - 1) / nr
	w.bp = grow(w.bp, np*k*nr)
	for jp := range np {
		dst := w.bp[jp*k*nr : (jp+1)*k*nr]
		j0 := jp * nr
		if j0+nr <= n && js == 1 {
			for p := range k {
				copy(dst[p*nr:p*nr+nr], b[p*ps+j0:p*ps+j0+nr])
			}
			continue
		}
		for p := range k {
			d := dst[p*nr : p*nr+nr]
			for jj := range d {
				if j := j0 + jj; j < n {
					d[jj] = b[p*ps+j*js]
				} else {
					d[jj] = 0
				}
			}
		}
	}
}

// run sets c = A · B, B packed by packB and A (m×k) at a[i*is+p*ps], packing
// mr rows of A at a time.
func (w *matmul[T]) run(c, a []T, m, k, n, is, ps int) {
	w.ap = grow(w.ap, k*mr)
	ap := w.ap
	np := (n + nr - 1) / nr
	for i0 := 0; i0 < m; i0 += mr {
		rows := min(mr, m-i0)
		for p := range k {
			d := ap[p*mr : p*mr+mr]
			for ii := range d {
				if ii < rows {
					d[ii] = a[(i0+ii)*is+p*ps]
				} else {
					d[ii] = 0
				}
			}
		}
		for jp := range np {
			j0 := jp * nr
			acc := kernel(ap, w.bp[jp*k*nr:(jp+1)*k*nr], k)
			cols := min(nr, n-j0)
			for ii := range rows {
				row := c[(i0+ii)*n+j0 : (i0+ii)*n+j0+cols]
				for jj := range row {
					row[jj] = acc[ii*nr+jj]
				}
			}
		}
	}
}

// kernel returns the mr×nr block Σ_p ap[p][i]·bp[p][j], p ascending, from
// zero. Eight accumulators, two values of A and four of B fit the 15 vector
// registers Go's amd64 ABI leaves free, so nothing spills in the loop.
func kernel[T float](ap, bp []T, k int) [mr * nr]T {
	var c00, c01, c02, c03, c10, c11, c12, c13 T
	ap = ap[:k*mr]
	bp = bp[:k*nr]
	for p := range k {
		a := ap[p*mr : p*mr+mr : p*mr+mr]
		b := bp[p*nr : p*nr+nr : p*nr+nr]
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += T(a0 * b0)
		c01 += T(a0 * b1)
		c02 += T(a0 * b2)
		c03 += T(a0 * b3)
		c10 += T(a1 * b0)
		c11 += T(a1 * b1)
		c12 += T(a1 * b2)
		c13 += T(a1 * b3)
	}
	return [mr * nr]T{c00, c01, c02, c03, c10, c11, c12, c13}
}

// naiveNN is the reference: c (m×n) = a (m×k) · b (k×n) by the triple loop.
func naiveNN[T float](c, a, b []T, m, k, n int) {
	for i := range m {
		for j := range n {
			var s T
			for p := range k {
				s += T(a[i*k+p] * b[p*n+j])
			}
			c[i*n+j] = s
		}
	}
}
