package train

import "unsafe"

// The float32 products on the assembly register block (sgemm_amd64.s): the
// same sums as matmul.go's kernel, element for element, in the same order,
// so the same bits. Each SIMD lane holds a different output element; the
// blocking below (K in slabs of sgKC, rows in blocks of sgMC, columns in
// panels of sgNR) changes only the order in which elements are visited and
// where a partial sum waits between slabs: in C itself, as the float32 it
// is, which changes nothing.
const (
	sgMR = 6   // rows of the register block
	sgNR = 16  // columns of the register block: two vectors of 8
	sgKC = 256 // K slab: a packed panel of B (sgKC × sgNR) stays in L1
	sgMC = 120 // row block: sgMC × sgKC of A stays in L2
)

// useSgemm turns the assembly kernel on where the CPU has it; the tests turn
// it off to compare with the portable kernel.
var useSgemm = haveSgemm

// sgemm holds the packing buffers of one goroutine; the zero value is ready.
type sgemm struct {
	bp   []float32 // a K slab of B, in panels of sgNR columns
	ap   []float32 // a block of A, in strips of sgMR rows
	ct   []float32 // Cᵀ, when nt computes the transposed product
	tile [sgMR * sgNR]float32
}

// f32 views s as []float32; T must be float32.
func f32[T float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// nn sets c (m×n) = a (m×k) · b (k×n).
func (s *sgemm) nn(c, a, b []float32, m, k, n int) {
	s.run(c, n, a, k, 1, b, n, 1, m, k, n)
}

// tn sets c (m×n) = aᵀ · b, a (k×m), b (k×n).
func (s *sgemm) tn(c, a, b []float32, m, k, n int) {
	s.run(c, n, a, 1, m, b, n, 1, m, k, n)
}

// nt sets c (m×n) = a · bᵀ, a (m×k), b (n×k). The packed operand must be
// transposed: when a is the smaller, it computes Cᵀ = b · aᵀ and transposes
// that (the tied head, dx of a linear layer), else it transposes b.
func (s *sgemm) nt(c, a, b []float32, m, k, n int) {
	if m*k+m*n < n*k {
		s.ct = grow(s.ct, n*m)
		s.run(s.ct, m, b, k, 1, a, 1, k, n, k, m)
		transpose(c, s.ct, n, m)
		return
	}
	s.run(c, n, a, k, 1, b, 1, k, m, k, n)
}

// transpose sets dst (c×r) to src (r×c) transposed: 8×8 blocks in
// assembly, then the edges.
func transpose(dst, src []float32, r, c int) {
	src, dst = src[:r*c], dst[:r*c]
	r8, c8 := r/8*8, c/8*8
	for i0 := 0; i0 < r8; i0 += 8 {
		for j0 := 0; j0 < c8; j0 += 8 {
			transpose8x8(&dst[j0*r+i0], r, &src[i0*c+j0], c)
		}
	}
	for i := range r {
		j0 := c8
		if i >= r8 {
			j0 = 0
		}
		for j := j0; j < c; j++ {
			dst[j*r+i] = src[i*c+j]
		}
	}
}

// run sets C (m×n, row i at c[i·ldc:]) = A·B with A(i,p) = a[i·rsa + p·csa]
// and B(p,j) = b[p·bps + j·bjs], bjs = 1 (B row-major) or bps = 1 (B
// transposed).
func (s *sgemm) run(c []float32, ldc int, a []float32, rsa, csa int, b []float32, bps, bjs int, m, k, n int) {
	s.runPacked(c, ldc, a, rsa, csa, b, bps, bjs, nil, m, k, n)
}

// runPacked is run with B already packed by pb when pb is not nil (then b,
// bps and bjs are not read).
func (s *sgemm) runPacked(c []float32, ldc int, a []float32, rsa, csa int, b []float32, bps, bjs int, pb *packedB, m, k, n int) {
	if m == 0 || n == 0 {
		return
	}
	_ = c[(m-1)*ldc+n-1]
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	_ = a[(m-1)*rsa+(k-1)*csa]
	if pb == nil {
		_ = b[(k-1)*bps+(n-1)*bjs]
	} else if pb.k != k || pb.n != n {
		panic("train: packed matrix of another shape")
	}
	np := (n + sgNR - 1) / sgNR
	for pc := 0; pc < k; pc += sgKC {
		kb := min(sgKC, k-pc)
		var bp []float32
		if pb == nil {
			s.packB(b, bps, bjs, pc, kb, n)
			bp = s.bp
		} else {
			bp = pb.data[pc*np*sgNR : (pc+kb)*np*sgNR]
		}
		load := pc > 0
		for ic := 0; ic < m; ic += sgMC {
			mb := min(sgMC, m-ic)
			// Rows of A that are contiguous (csa = 1) stream well as they
			// are, six at a time; only a partial last strip is copied.
			// Otherwise (aᵀ in tn: a column at a time, rows far apart) the
			// block is packed into strips once for all panels.
			direct := csa == 1
			if direct {
				if full := m / sgMR * sgMR; full < ic+mb {
					s.packA(a, rsa, csa, full, m-full, pc, kb)
				}
			} else {
				s.packA(a, rsa, csa, ic, mb, pc, kb)
			}
			for jp := range np {
				panel := &bp[jp*kb*sgNR]
				j0 := jp * sgNR
				cols := min(sgNR, n-j0)
				for i0 := ic; i0 < ic+mb; i0 += sgMR {
					rows := min(sgMR, m-i0)
					ap, ars, acs := (*float32)(nil), 4, 4*sgMR
					switch {
					case !direct:
						ap = &s.ap[(i0-ic)*kb]
					case rows == sgMR:
						ap, ars, acs = &a[i0*rsa+pc], 4*rsa, 4
					default:
						ap = &s.ap[0]
					}
					if rows == sgMR && cols == sgNR {
						sgemm6x16(kb, ap, ars, acs, panel, &c[i0*ldc+j0], 4*ldc, load)
						continue
					}
					t := &s.tile
					if load {
						for ii := range rows {
							copy(t[ii*sgNR:ii*sgNR+cols], c[(i0+ii)*ldc+j0:])
						}
					}
					sgemm6x16(kb, ap, ars, acs, panel, &t[0], 4*sgNR, load)
					for ii := range rows {
						copy(c[(i0+ii)*ldc+j0:(i0+ii)*ldc+j0+cols], t[ii*sgNR:])
					}
				}
			}
		}
	}
}

// packedB is a row-major matrix B (k×n) packed once, slab after slab of
// sgKC rows, each as packB lays it out: a product that reuses B (a weight,
// in every sequence of an update) then packs nothing.
type packedB struct {
	k, n int
	data []float32
}

// pack packs b (k×n, row-major) into pb, reusing its buffer.
func (pb *packedB) pack(b []float32, k, n int) {
	np := (n + sgNR - 1) / sgNR
	pb.k, pb.n = k, n
	pb.data = grow(pb.data, k*np*sgNR)
	var s sgemm
	for pc := 0; pc < k; pc += sgKC {
		kb := min(sgKC, k-pc)
		s.bp = pb.data[pc*np*sgNR : (pc+kb)*np*sgNR]
		s.packB(b, n, 1, pc, kb, n)
	}
}

// nnPacked sets c (m×n) = a (m×k) · B, B packed in pb.
func (s *sgemm) nnPacked(c, a []float32, pb *packedB, m int) {
	s.runPacked(c, pb.n, a, pb.k, 1, nil, 0, 0, pb, m, pb.k, pb.n)
}

// packB copies rows [pc, pc+kb) of B into panels of sgNR columns:
// bp[(jp·kb + p)·sgNR + jj] = B(pc+p, jp·sgNR+jj), zero past column n−1
// (padding feeds only output columns that are never stored).
func (s *sgemm) packB(b []float32, bps, bjs, pc, kb, n int) {
	np := (n + sgNR - 1) / sgNR
	if len(s.bp) != np*kb*sgNR {
		s.bp = grow(s.bp, np*kb*sgNR)
	}
	for jp := range np {
		dst := s.bp[jp*kb*sgNR : (jp+1)*kb*sgNR]
		j0 := jp * sgNR
		cols := min(sgNR, n-j0)
		if bjs == 1 {
			if cols == sgNR {
				_ = b[(pc+kb-1)*bps+j0+sgNR-1]
				packRows16(&dst[0], &b[pc*bps+j0], kb, bps)
				continue
			}
			for p := range kb {
				d := dst[p*sgNR : p*sgNR+sgNR]
				copy(d, b[(pc+p)*bps+j0:(pc+p)*bps+j0+cols])
				clear(d[cols:])
			}
			continue
		}
		p0 := 0
		if cols == sgNR {
			// 8×8 blocks: columns j0 … j0+15 of B are rows of b.
			_ = b[(j0+sgNR-1)*bjs+pc+kb-1]
			for ; p0+8 <= kb; p0 += 8 {
				transpose8x8(&dst[p0*sgNR], sgNR, &b[j0*bjs+pc+p0], bjs)
				transpose8x8(&dst[p0*sgNR+8], sgNR, &b[(j0+8)*bjs+pc+p0], bjs)
			}
		} else {
			clear(dst)
		}
		for jj := range cols {
			col := b[(j0+jj)*bjs+pc : (j0+jj)*bjs+pc+kb]
			for p := p0; p < kb; p++ {
				dst[p*sgNR+jj] = col[p]
			}
		}
	}
}

// packA copies rows [ic, ic+mb) of A, columns [pc, pc+kb), into strips
// of sgMR rows: ap[(t·kb + p)·sgMR + ii] = A(ic + t·sgMR + ii, pc + p),
// zero in the rows past mb (they feed only rows that are never stored). The
// kernel then reads A as one contiguous stream.
func (s *sgemm) packA(a []float32, rsa, csa, ic, mb, pc, kb int) {
	strips := (mb + sgMR - 1) / sgMR
	s.ap = grow(s.ap, strips*kb*sgMR)
	for t := range strips {
		dst := s.ap[t*kb*sgMR : (t+1)*kb*sgMR]
		i0 := ic + t*sgMR
		rows := min(sgMR, ic+mb-i0)
		if rows < sgMR {
			clear(dst)
		}
		if csa == 1 {
			for ii := range rows {
				src := a[(i0+ii)*rsa+pc : (i0+ii)*rsa+pc+kb]
				for p, v := range src {
					dst[p*sgMR+ii] = v
				}
			}
			continue
		}
		if rsa == 1 && rows == sgMR {
			for p := range kb {
				*(*[sgMR]float32)(dst[p*sgMR:]) = *(*[sgMR]float32)(a[i0+(pc+p)*csa:])
			}
			continue
		}
		for ii := range rows {
			for p := range kb {
				dst[p*sgMR+ii] = a[(i0+ii)*rsa+(pc+p)*csa]
			}
		}
	}
}
