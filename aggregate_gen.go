//go:build ignore

// aggregate_gen.go writes aggregate_amd64.s, the sorting-network kernels of
// the trimmed mean (see aggregate_vector.go): go generate in the root.
package main

import (
	"bytes"
	"fmt"
	"os"
)

// isa is one instruction set's shape: lanes per vector, registers per group
// of rows sorted in registers, and its register names.
type isa struct {
	name   string // function suffix
	f32    bool   // sorts the float32 inputs themselves (every scale 1)
	mix    bool   // f32, then inserts the few scaled contributions
	lanes  int    // W, coordinates a block: 8 or 4 float64, 16 or 8 float32
	group  int    // rows per in-register group (G)
	reg    string // "Z" or "Y"
	spare  []int  // registers free for renaming
	infReg int    // holds +Inf
}

var isas = []isa{
	{name: "AVX512", lanes: 8, group: 16, reg: "Z", spare: seq(16, 30), infReg: 30},
	{name: "AVX2", lanes: 4, group: 8, reg: "Y", spare: seq(8, 14), infReg: 14},
	{name: "32AVX512", f32: true, lanes: 16, group: 16, reg: "Z", spare: seq(16, 30), infReg: 30},
	{name: "32AVX2", f32: true, lanes: 8, group: 8, reg: "Y", spare: seq(8, 14), infReg: 14},
	{name: "MixAVX512", f32: true, mix: true, lanes: 16, group: 16, reg: "Z", spare: seq(16, 30), infReg: 30},
	{name: "MixAVX2", f32: true, mix: true, lanes: 8, group: 8, reg: "Y", spare: seq(8, 14), infReg: 14},
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// The inputs are read 4·W bytes of each at a time, N streams apart: more
// streams than the hardware prefetchers follow, and a burst of N cache
// misses at the start of every block. So while a block is sorted, every
// group of rows the passes load also prefetches the lines of prefetchRows
// inputs that a later block reads, prefetch bytes past this block's start
// (two lines on): R11 walks ptrs up to R12, R13 is the byte offset.
const (
	prefetch     = 128
	prefetchRows = 4
)

type gen struct {
	b    bytes.Buffer
	isa  isa
	phys []int // phys[r]: the register holding logical row r of the group
	free []int
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.b, format+"\n", args...) }

// ps is the element suffix of the sort's instructions.
func (g *gen) ps() string {
	if g.isa.f32 {
		return "PS"
	}
	return "PD"
}

func (g *gen) r(i int) string { return fmt.Sprintf("%s%d", g.isa.reg, i) }

// cmpx puts min(row a, row b) in row a and the max in row b (a < b).
func (g *gen) cmpx(a, b int) {
	f := g.free[0]
	g.free = g.free[1:]
	pa, pb := g.phys[a], g.phys[b]
	g.p("\tVMIN%s %s, %s, %s", g.ps(), g.r(pb), g.r(pa), g.r(f))
	g.p("\tVMAX%s %s, %s, %s", g.ps(), g.r(pb), g.r(pa), g.r(pb))
	g.phys[a] = f
	g.free = append(g.free, pa)
}

// flip compares, in every run of 2^s rows, row r with row r ^ (2^s − 1).
func (g *gen) flip(s int) {
	m := 1<<s - 1
	for r := 0; r < g.isa.group; r++ {
		if r&(1<<(s-1)) == 0 {
			g.cmpx(r, r^m)
		}
	}
}

// half compares row r with row r + 2^q.
func (g *gen) half(q int) {
	for r := 0; r < g.isa.group; r++ {
		if r&(1<<q) == 0 {
			g.cmpx(r, r|1<<q)
		}
	}
}

// kernel emits one pass kind's loop over groups: SI the offsets table (one
// int64 byte offset per row of each group), CX the number of groups, DI the
// block.
func (g *gen) kernel(kind int, body func()) {
	G := g.isa.group
	g.p("k%d:", kind)
	g.p("\tMOVQ 8(BX), SI")
	g.p("\tMOVQ 16(BX), CX")
	g.p("loop%d:", kind)
	g.phys = seq(0, G)
	g.free = append([]int(nil), g.isa.spare...)
	for r := 0; r < G; r++ {
		g.p("\tMOVQ %d(SI), DX", 8*r)
		g.p("\tVMOVUPD (DI)(DX*1), %s", g.r(r))
	}
	g.p("\tCMPQ R11, R12")
	g.p("\tJAE nopf%d", kind)
	for i := 0; i < prefetchRows; i++ {
		g.p("\tMOVQ %d(R11), AX", 8*i)
		g.p("\tPREFETCHT0 (AX)(R13*1)")
	}
	g.p("\tADDQ $%d, R11", 8*prefetchRows)
	g.p("nopf%d:", kind)
	body()
	for r := 0; r < G; r++ {
		g.p("\tMOVQ %d(SI), DX", 8*r)
		g.p("\tVMOVUPD %s, (DI)(DX*1)", g.r(g.phys[r]))
	}
	g.p("\tADDQ $%d, SI", 8*G)
	g.p("\tDECQ CX")
	g.p("\tJNZ loop%d", kind)
	g.p("\tJMP next")
}

// function emits one kernel: for each block of W coordinates from lo to hi,
// the rows, the passes of the program, then sumTail or mixTail. It uses
// nothing past AVX-512F (ZMM) or AVX2 (YMM).
func (g *gen) function() {
	x := g.isa
	G, L := x.group, 0
	for 1<<L < G {
		L++
	}
	rowBytes := 64 // a ZMM register
	if x.reg == "Y" {
		rowBytes = 32
	}
	z := x.reg
	zmm := z == "Z"
	g.p("// func trimBlocks%s(a *trimArgs) int", x.name)
	g.p("TEXT ·trimBlocks%s(SB), NOSPLIT, $0-16", x.name)
	g.p("\tMOVQ a+0(FP), R8")
	g.p("\tMOVQ 40(R8), R9 // j = lo")
	switch {
	case x.f32 && zmm:
		g.p("\tMOVL $0x7f800000, AX")
		g.p("\tVPBROADCASTD AX, Z%d", x.infReg)
	case x.f32:
		g.p("\tMOVL $0x7f800000, AX")
		g.p("\tMOVQ AX, X%d", x.infReg)
		g.p("\tVPBROADCASTD X%d, Y%d", x.infReg, x.infReg)
	case zmm:
		g.p("\tMOVQ $0x7ff0000000000000, AX")
		g.p("\tVPBROADCASTQ AX, Z%d", x.infReg)
	default:
		g.p("\tMOVQ $0x7ff0000000000000, AX")
		g.p("\tMOVQ AX, X%d", x.infReg)
		g.p("\tVPBROADCASTQ X%d, Y%d", x.infReg, x.infReg)
	}
	g.p("block:")
	g.p("\tCMPQ R9, 48(R8)")
	g.p("\tJGE done")
	// Rows: v_i = f64(x_i)·scale_i (or x_i itself), then +Inf up to P rows;
	// NaN noted.
	g.p("\tMOVQ 8(R8), SI  // ptrs")
	g.p("\tMOVQ 16(R8), DX // scales")
	g.p("\tMOVQ 56(R8), DI // buf")
	g.p("\tMOVQ 24(R8), CX // n")
	if zmm {
		g.p("\tKXORW K2, K2, K2")
	} else {
		g.p("\tVXORPD Y15, Y15, Y15")
	}
	g.p("rows:")
	g.p("\tMOVQ (SI), AX")
	switch {
	case x.f32:
		g.p("\tVMOVUPS (AX)(R9*4), %s0", z)
	case zmm:
		g.p("\tVCVTPS2PD (AX)(R9*4), Z0")
		g.p("\tVMULPD.BCST (DX), Z0, Z0")
	default:
		g.p("\tVCVTPS2PD (AX)(R9*4), Y0")
		g.p("\tVBROADCASTSD (DX), Y1")
		g.p("\tVMULPD Y1, Y0, Y0")
	}
	if zmm {
		g.p("\tVCMP%s $3, Z0, Z0, K1", g.ps())
		g.p("\tKORW K1, K2, K2")
	} else {
		g.p("\tVCMP%s $3, Y0, Y0, Y1", g.ps())
		g.p("\tVORPD Y1, Y15, Y15")
	}
	g.p("\tVMOVUPD %s0, (DI)", z)
	g.p("\tADDQ $8, SI")
	g.p("\tADDQ $8, DX")
	g.p("\tADDQ $%d, DI", rowBytes)
	g.p("\tDECQ CX")
	g.p("\tJNZ rows")
	g.p("\tMOVQ 32(R8), CX // P")
	g.p("\tSUBQ 24(R8), CX")
	g.p("\tJZ padded")
	g.p("pad:")
	g.p("\tVMOVUPD %s%d, (DI)", z, x.infReg)
	g.p("\tADDQ $%d, DI", rowBytes)
	g.p("\tDECQ CX")
	g.p("\tJNZ pad")
	g.p("padded:")
	if zmm {
		g.p("\tKORTESTW K2, K2")
	} else {
		g.p("\tVPTEST Y15, Y15")
	}
	g.p("\tJNZ stop")
	g.p("\tMOVQ 8(R8), R11 // prefetch cursor")
	g.p("\tMOVQ 24(R8), R12")
	g.p("\tLEAQ (R11)(R12*8), R12")
	g.p("\tLEAQ %d(R9*4), R13", prefetch)
	g.p("\tMOVQ 56(R8), DI // buf")
	g.p("\tMOVQ 64(R8), BX // prog")
	g.p("\tMOVQ 72(R8), R10 // passes")
	g.p("pass:")
	g.p("\tMOVQ (BX), AX")
	kinds := []int{0}
	for s := 1; s <= L; s++ {
		kinds = append(kinds, s, 4+s)
	}
	for _, k := range kinds {
		g.p("\tCMPQ AX, $%d", k)
		g.p("\tJEQ k%d", k)
	}
	g.p("\tJMP next // not reached")
	// kind 0: bitonic sort of G contiguous rows.
	g.kernel(0, func() {
		for p := 0; p < L; p++ {
			g.flip(p + 1)
			for q := p - 1; q >= 0; q-- {
				g.half(q)
			}
		}
	})
	for s := 1; s <= L; s++ {
		g.kernel(s, func() {
			g.flip(s)
			for q := s - 2; q >= 0; q-- {
				g.half(q)
			}
		})
		g.kernel(4+s, func() {
			for q := s - 1; q >= 0; q-- {
				g.half(q)
			}
		})
	}
	g.p("next:")
	g.p("\tADDQ $24, BX")
	g.p("\tDECQ R10")
	g.p("\tJNZ pass")
	if x.mix {
		g.mixTail(rowBytes)
	} else {
		g.sumTail(rowBytes)
	}
	g.p("stop:")
	g.p("done:")
	g.p("\tMOVQ R9, ret+8(FP)")
	g.p("\tVZEROUPPER")
	g.p("\tRET")
}

// sumTail sums rows t … t+kept−1 of the block, in order, from +0 (in
// float64; float32 rows converted exactly), divides by N−2t, rounds to
// float32, stores the W results and goes on to the next block.
func (g *gen) sumTail(rowBytes int) {
	x := g.isa
	z := x.reg
	zmm := z == "Z"
	g.p("\tMOVQ 80(R8), AX")
	g.p("\tIMULQ $%d, AX", rowBytes)
	g.p("\tADDQ DI, AX")
	g.p("\tMOVQ 88(R8), CX")
	g.p("\tVXORPD %s0, %s0, %s0", z, z, z)
	if x.f32 {
		g.p("\tVXORPD %s1, %s1, %s1", z, z, z)
	}
	g.p("sum:")
	if x.f32 {
		g.p("\tVCVTPS2PD (AX), %s2", z)
		g.p("\tVADDPD %s2, %s0, %s0", z, z, z)
		g.p("\tVCVTPS2PD %d(AX), %s3", rowBytes/2, z)
		g.p("\tVADDPD %s3, %s1, %s1", z, z, z)
	} else {
		g.p("\tVADDPD (AX), %s0, %s0", z, z)
	}
	g.p("\tADDQ $%d, AX", rowBytes)
	g.p("\tDECQ CX")
	g.p("\tJNZ sum")
	g.p("\tMOVQ (R8), AX // dst")
	halves := []int{0}
	if x.f32 {
		halves = []int{0, 1}
	}
	for _, h := range halves {
		if zmm {
			g.p("\tVDIVPD.BCST 96(R8), Z%d, Z%d", h, h)
			g.p("\tVCVTPD2PS Z%d, Y%d", h, h)
			g.p("\tVMOVUPS Y%d, %d(AX)(R9*4)", h, 32*h)
		} else {
			g.p("\tVBROADCASTSD 96(R8), Y4")
			g.p("\tVDIVPD Y4, Y%d, Y%d", h, h)
			g.p("\tVCVTPD2PSY Y%d, X%d", h, h)
			g.p("\tVMOVUPS X%d, %d(AX)(R9*4)", h, 16*h)
		}
	}
	g.p("\tADDQ $%d, R9", x.lanes)
	g.p("\tJMP block")
}

// mixTail finishes a block of the mixed kernels: the block holds the
// unscaled contributions sorted as float32. For each half of the lanes, the
// first R = N−t sorted rows go to the float64 work rows (+Inf past the
// block's P rows); each scaled contribution's v = f64(x)·scale is inserted
// in order — out[i] = min(max(old[i−1], v), old[i]), old[−1] = −Inf, the
// rows past R dropped, as only sorted positions below N−t are summed — and
// rows t … R−1 are summed from +0, divided, rounded and stored. A NaN among
// the scaled values stops the loop at this block.
func (g *gen) mixTail(rowBytes int) {
	x := g.isa
	z := x.reg
	zmm := z == "Z"
	pinf, ninf := 28, 29
	if !zmm {
		pinf, ninf = 12, 13
	}
	g.p("\tMOVQ $0x7ff0000000000000, AX")
	g.p("\tMOVQ $0xfff0000000000000, BX")
	if zmm {
		g.p("\tVPBROADCASTQ AX, Z%d", pinf)
		g.p("\tVPBROADCASTQ BX, Z%d", ninf)
	} else {
		g.p("\tMOVQ AX, X%d", pinf)
		g.p("\tVPBROADCASTQ X%d, Y%d", pinf, pinf)
		g.p("\tMOVQ BX, X%d", ninf)
		g.p("\tVPBROADCASTQ X%d, Y%d", ninf, ninf)
	}
	half := rowBytes / 2 // bytes of float32 in half the lanes
	for h := 0; h < 2; h++ {
		// float32 rows → float64 work rows.
		g.p("\tMOVQ 56(R8), SI // buf")
		g.p("\tMOVQ 128(R8), DI // work")
		g.p("\tMOVQ 136(R8), CX // R")
		g.p("\tMOVQ 32(R8), DX // P")
		g.p("conv%d:", h)
		g.p("\tVCVTPS2PD %d(SI), %s0", h*half, z)
		g.p("\tVMOVUPD %s0, (DI)", z)
		g.p("\tADDQ $%d, SI", rowBytes)
		g.p("\tADDQ $%d, DI", rowBytes)
		g.p("\tDECQ CX")
		g.p("\tJZ conved%d", h)
		g.p("\tDECQ DX")
		g.p("\tJNZ conv%d", h)
		g.p("convpad%d:", h)
		g.p("\tVMOVUPD %s%d, (DI)", z, pinf)
		g.p("\tADDQ $%d, DI", rowBytes)
		g.p("\tDECQ CX")
		g.p("\tJNZ convpad%d", h)
		g.p("conved%d:", h)
		// Insert the scaled contributions.
		g.p("\tMOVQ 104(R8), SI // scaled ptrs")
		g.p("\tMOVQ 112(R8), DX // their scales")
		g.p("\tMOVQ 120(R8), R10 // k")
		g.p("ins%d:", h)
		g.p("\tMOVQ (SI), AX")
		if zmm {
			g.p("\tVCVTPS2PD %d(AX)(R9*4), Z1", h*32)
			g.p("\tVMULPD.BCST (DX), Z1, Z1")
			g.p("\tVCMPPD $3, Z1, Z1, K1")
			g.p("\tKORTESTW K1, K1")
		} else {
			g.p("\tVCVTPS2PD %d(AX)(R9*4), Y1", h*16)
			g.p("\tVBROADCASTSD (DX), Y2")
			g.p("\tVMULPD Y2, Y1, Y1")
			g.p("\tVCMPPD $3, Y1, Y1, Y2")
			g.p("\tVPTEST Y2, Y2")
		}
		g.p("\tJNZ stop")
		g.p("\tMOVQ 128(R8), DI")
		g.p("\tMOVQ 136(R8), CX")
		g.p("\tVMOVUPD %s%d, %s2", z, ninf, z)
		g.p("insrow%d:", h)
		g.p("\tVMOVUPD (DI), %s3", z)
		g.p("\tVMAXPD %s1, %s2, %s4", z, z, z)
		g.p("\tVMINPD %s3, %s4, %s4", z, z, z)
		g.p("\tVMOVUPD %s4, (DI)", z)
		g.p("\tVMOVUPD %s3, %s2", z, z)
		g.p("\tADDQ $%d, DI", rowBytes)
		g.p("\tDECQ CX")
		g.p("\tJNZ insrow%d", h)
		g.p("\tADDQ $8, SI")
		g.p("\tADDQ $8, DX")
		g.p("\tDECQ R10")
		g.p("\tJNZ ins%d", h)
		// Sum rows t … R−1.
		g.p("\tMOVQ 80(R8), AX")
		g.p("\tIMULQ $%d, AX", rowBytes)
		g.p("\tADDQ 128(R8), AX")
		g.p("\tMOVQ 88(R8), CX")
		g.p("\tVXORPD %s0, %s0, %s0", z, z, z)
		g.p("msum%d:", h)
		g.p("\tVADDPD (AX), %s0, %s0", z, z)
		g.p("\tADDQ $%d, AX", rowBytes)
		g.p("\tDECQ CX")
		g.p("\tJNZ msum%d", h)
		g.p("\tMOVQ (R8), AX // dst")
		if zmm {
			g.p("\tVDIVPD.BCST 96(R8), Z0, Z0")
			g.p("\tVCVTPD2PS Z0, Y0")
			g.p("\tVMOVUPS Y0, %d(AX)(R9*4)", 32*h)
		} else {
			g.p("\tVBROADCASTSD 96(R8), Y4")
			g.p("\tVDIVPD Y4, Y0, Y0")
			g.p("\tVCVTPD2PSY Y0, X0")
			g.p("\tVMOVUPS X0, %d(AX)(R9*4)", 16*h)
		}
	}
	g.p("\tADDQ $%d, R9", x.lanes)
	g.p("\tJMP block")
}

func main() {
	var out bytes.Buffer
	out.WriteString(`// Code generated by aggregate_gen.go; DO NOT EDIT.

//go:build !purego

#include "textflag.h"

// trimBlocksAVX512 and trimBlocksAVX2 merge blocks of 8 (AVX-512F) or 4
// (AVX2) coordinates of the trimmed mean: the rows v_i = f64(x_i)·scale_i,
// padded with +Inf to P rows, or, in trimBlocks32AVX512 (16 coordinates)
// and trimBlocks32AVX2 (8), when every scale is 1, the float32 x_i
// themselves (the same order; converted exactly to float64 to be summed),
// sorted by a bitonic network run in every lane at once (compare-exchange =
// VMINPD/VMAXPD or VMINPS/VMAXPS) as a program of passes over groups of
// rows held in registers, then the kept rows summed in ascending order from
// +0 and divided, as the reference does. A block holding a NaN
// stops the loop: its first coordinate is returned. See aggregate_vector.go.

`)
	for i, x := range isas {
		g := &gen{isa: x}
		g.function()
		if i > 0 {
			out.WriteString("\n")
		}
		out.WriteString(g.b.String())
	}
	path := "aggregate_amd64.s"
	if len(os.Args) > 1 {
		path = os.Args[1] // a test compares a fresh output with the committed one
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
