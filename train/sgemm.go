package train

import "unsafe"

// The float32 products on an assembly register block (sgemm_amd64.s, AVX2,
// or sgemm512_amd64.s, AVX-512F): the same sums as matmul.go's kernel,
// element for element, in the same order, so the same bits. Each SIMD lane
// holds a different output element; the blocking below (K in slabs of kc,
// rows in blocks of mc, columns in panels of nr) changes only the order in
// which elements are visited and where a partial sum waits between slabs:
// in C itself, as the float32 it is, which changes nothing.

// sgKernel is a register block and the blocking that feeds it.
type sgKernel struct {
	name   string
	mr, nr int // rows and columns of the register block
	kc     int // K slab: a packed panel of B (kc × nr) stays in L1 or L2
	mc     int // row block, a multiple of mr: mc × kc of A stays in L2
	// block sets the mr×nr block of C at c (rows ldc bytes apart) to
	// (load ? C : 0) + Σ_p A(i,p)·B(p,j), p = 0 … k−1 ascending, k ≥ 1,
	// each product rounded before it is added. A(i,p) is at a + i·rsa +
	// p·csa (bytes), B packed: B(p,j) at b + 4·(nr·p + j).
	block func(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool)
	// packRows copies kb rows of nr floats, lds floats apart, densely.
	packRows func(dst, src *float32, kb, lds int)
}

// The register blocks: 6×16 on AVX2 (two vectors of 8 per row), 8×32 on
// AVX-512F (two vectors of 16). The AVX-512 block's slabs are longer (its
// panel of 64 KB stays in L2, which feeds it fast enough): every slab after
// the first reloads C, which for the tied head's logits (64 × 50257) comes
// from memory, and 512 instead of 128 lifts that product from about 75 to
// 98 GFLOP/s on AMD Zen 4.
var (
	sgAVX2   = sgKernel{name: "AVX2 6x16", mr: 6, nr: 16, kc: 256, mc: 120, block: sgemm6x16, packRows: packRows16}
	sgAVX512 = sgKernel{name: "AVX-512 8x32", mr: 8, nr: 32, kc: 512, mc: 192, block: sgemm8x32, packRows: packRows32}
)

// sgTileMax bounds mr·nr of every kernel: the tile that takes a partial
// block.
const sgTileMax = 8 * 32

// useSgemm turns the assembly kernel on where the CPU has it; the tests turn
// it off to compare with the portable kernel. useAVX512 (kernels.go)
// chooses between the AVX-512 and the AVX2 register blocks.
var useSgemm = haveSgemm

// sgKernelInUse returns the register block in use.
func sgKernelInUse() *sgKernel {
	if useAVX512 {
		return &sgAVX512
	}
	return &sgAVX2
}

// sgemm holds the packing buffers of one goroutine; the zero value is ready.
type sgemm struct {
	bp   []float32 // a K slab of B, in panels of nr columns
	ap   []float32 // a block of A, in strips of mr rows
	ct   []float32 // Cᵀ, when nt computes the transposed product
	tile [sgTileMax]float32
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
	kr := sgKernelInUse()
	if pb != nil && pb.kr != kr {
		panic("train: matrix packed for another kernel")
	}
	mr, nr, kc, mc := kr.mr, kr.nr, kr.kc, kr.mc
	np := (n + nr - 1) / nr
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		var bp []float32
		if pb == nil {
			s.packB(kr, b, bps, bjs, pc, kb, n)
			bp = s.bp
		} else {
			bp = pb.data[pc*np*nr : (pc+kb)*np*nr]
		}
		load := pc > 0
		for ic := 0; ic < m; ic += mc {
			mb := min(mc, m-ic)
			// Rows of A that are contiguous (csa = 1) stream well as they
			// are, mr at a time; only a partial last strip is copied.
			// Otherwise (aᵀ in tn: a column at a time, rows far apart) the
			// block is packed into strips once for all panels.
			direct := csa == 1
			if direct {
				if full := m / mr * mr; full < ic+mb {
					s.packA(mr, a, rsa, csa, full, m-full, pc, kb)
				}
			} else {
				s.packA(mr, a, rsa, csa, ic, mb, pc, kb)
			}
			for jp := range np {
				panel := &bp[jp*kb*nr]
				j0 := jp * nr
				cols := min(nr, n-j0)
				for i0 := ic; i0 < ic+mb; i0 += mr {
					rows := min(mr, m-i0)
					ap, ars, acs := (*float32)(nil), 4, 4*mr
					switch {
					case !direct:
						ap = &s.ap[(i0-ic)*kb]
					case rows == mr:
						ap, ars, acs = &a[i0*rsa+pc], 4*rsa, 4
					default:
						ap = &s.ap[0]
					}
					if rows == mr && cols == nr {
						kr.block(kb, ap, ars, acs, panel, &c[i0*ldc+j0], 4*ldc, load)
						continue
					}
					t := &s.tile
					if load {
						for ii := range rows {
							copy(t[ii*nr:ii*nr+cols], c[(i0+ii)*ldc+j0:])
						}
					}
					kr.block(kb, ap, ars, acs, panel, &t[0], 4*nr, load)
					for ii := range rows {
						copy(c[(i0+ii)*ldc+j0:(i0+ii)*ldc+j0+cols], t[ii*nr:])
					}
				}
			}
		}
	}
}

// packedB is a row-major matrix B (k×n) packed once for one kernel, slab
// after slab of kc rows, each as packB lays it out: a product that reuses B
// (a weight, in every sequence of an update) then packs nothing.
type packedB struct {
	kr   *sgKernel
	k, n int
	data []float32
}

// pack packs b (k×n, row-major) into pb for the kernel in use, reusing its
// buffer.
func (pb *packedB) pack(b []float32, k, n int) {
	kr := sgKernelInUse()
	np := (n + kr.nr - 1) / kr.nr
	pb.kr, pb.k, pb.n = kr, k, n
	pb.data = grow(pb.data, k*np*kr.nr)
	var s sgemm
	for pc := 0; pc < k; pc += kr.kc {
		kb := min(kr.kc, k-pc)
		s.bp = pb.data[pc*np*kr.nr : (pc+kb)*np*kr.nr]
		s.packB(kr, b, n, 1, pc, kb, n)
	}
}

// nnPacked sets c (m×n) = a (m×k) · B, B packed in pb.
func (s *sgemm) nnPacked(c, a []float32, pb *packedB, m int) {
	s.runPacked(c, pb.n, a, pb.k, 1, nil, 0, 0, pb, m, pb.k, pb.n)
}

// packB copies rows [pc, pc+kb) of B into panels of nr columns:
// bp[(jp·kb + p)·nr + jj] = B(pc+p, jp·nr+jj), zero past column n−1
// (padding feeds only output columns that are never stored).
func (s *sgemm) packB(kr *sgKernel, b []float32, bps, bjs, pc, kb, n int) {
	nr := kr.nr
	np := (n + nr - 1) / nr
	if len(s.bp) != np*kb*nr {
		s.bp = grow(s.bp, np*kb*nr)
	}
	for jp := range np {
		dst := s.bp[jp*kb*nr : (jp+1)*kb*nr]
		j0 := jp * nr
		cols := min(nr, n-j0)
		if bjs == 1 {
			if cols == nr {
				_ = b[(pc+kb-1)*bps+j0+nr-1]
				kr.packRows(&dst[0], &b[pc*bps+j0], kb, bps)
				continue
			}
			for p := range kb {
				d := dst[p*nr : p*nr+nr]
				copy(d, b[(pc+p)*bps+j0:(pc+p)*bps+j0+cols])
				clear(d[cols:])
			}
			continue
		}
		p0 := 0
		if cols == nr {
			// 8×8 blocks: columns j0 … j0+nr−1 of B are rows of b.
			_ = b[(j0+nr-1)*bjs+pc+kb-1]
			for ; p0+8 <= kb; p0 += 8 {
				for g := 0; g < nr; g += 8 {
					transpose8x8(&dst[p0*nr+g], nr, &b[(j0+g)*bjs+pc+p0], bjs)
				}
			}
		} else {
			clear(dst)
		}
		for jj := range cols {
			col := b[(j0+jj)*bjs+pc : (j0+jj)*bjs+pc+kb]
			for p := p0; p < kb; p++ {
				dst[p*nr+jj] = col[p]
			}
		}
	}
}

// packA copies rows [ic, ic+mb) of A, columns [pc, pc+kb), into strips
// of mr rows: ap[(t·kb + p)·mr + ii] = A(ic + t·mr + ii, pc + p), zero in
// the rows past mb (they feed only rows that are never stored). The kernel
// then reads A as one contiguous stream.
func (s *sgemm) packA(mr int, a []float32, rsa, csa, ic, mb, pc, kb int) {
	strips := (mb + mr - 1) / mr
	s.ap = grow(s.ap, strips*kb*mr)
	for t := range strips {
		dst := s.ap[t*kb*mr : (t+1)*kb*mr]
		i0 := ic + t*mr
		rows := min(mr, ic+mb-i0)
		if rows < mr {
			clear(dst)
		}
		if csa == 1 {
			for ii := range rows {
				src := a[(i0+ii)*rsa+pc : (i0+ii)*rsa+pc+kb]
				for p, v := range src {
					dst[p*mr+ii] = v
				}
			}
			continue
		}
		if rsa == 1 && rows == mr && (mr == 6 || mr == 8) {
			for p := range kb {
				if mr == 8 {
					*(*[8]float32)(dst[p*8:]) = *(*[8]float32)(a[i0+(pc+p)*csa:])
				} else {
					*(*[6]float32)(dst[p*6:]) = *(*[6]float32)(a[i0+(pc+p)*csa:])
				}
			}
			continue
		}
		for ii := range rows {
			for p := range kb {
				dst[p*mr+ii] = a[(i0+ii)*rsa+(pc+p)*csa]
			}
		}
	}
}
