//go:build !purego

#include "textflag.h"

// func sgemm8x32(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool)
//
// The AVX-512F register block, sgemm6x16's twin (sgemm_amd64.s) at 8 rows
// by 32 columns: the 8×32 block of C at c (rows ldc bytes apart) gets, for
// each of its elements, s = (load ? c : 0) then s += float32(A(i,p)·B(p,j))
// for p = 0 … k−1 in order, k ≥ 1: VMULPS rounds each product, VADDPS adds
// it, never a fused multiply-add. A(i,p) is at a + i·rsa + p·csa (bytes); B
// is packed, B(p,j) at b + 128·p + 4·j. Each lane of a vector is a
// different output element, so the sum of every element is the naive
// loop's.
//
// Registers: Z0–Z15 the 8×2 accumulators, Z16 Z17 a row of B, Z18 Z19
// products. A(i,p) is broadcast by the multiplication itself ({1to16}
// operand): on AMD Zen 4 a separate VBROADCASTSS into a ZMM register takes a
// slot of the floating-point pipes that the products need, and the block
// then runs slower than the AVX2 one. Rows of A: AX, AX+BX, AX+2BX, AX+R11, R10,
// R10+BX, R10+2BX, R10+R11, with R11 = 3BX and R10 = AX+4BX.
TEXT ·sgemm8x32(SB), NOSPLIT, $0-57
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ rsa+16(FP), BX
	MOVQ csa+24(FP), DX
	MOVQ b+32(FP), SI
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), R8
	LEAQ (BX)(BX*2), R11
	LEAQ (AX)(BX*4), R10
	// C is written at the end (and read first when load): fetch its lines
	// now, behind the products, so that neither waits on memory (in the
	// weight gradients, C is far larger than the caches). A row of 128
	// bytes spans two lines, or three when it is not aligned: the third is
	// left to the hardware.
	MOVQ       DI, R12
	LEAQ       (R8)(R8*2), R13
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 (R12)(R8*1)
	PREFETCHT0 64(R12)(R8*1)
	PREFETCHT0 (R12)(R8*2)
	PREFETCHT0 64(R12)(R8*2)
	ADDQ       R13, R12
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 (R12)(R8*1)
	PREFETCHT0 64(R12)(R8*1)
	PREFETCHT0 (R12)(R8*2)
	PREFETCHT0 64(R12)(R8*2)
	ADDQ       R13, R12
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 (R12)(R8*1)
	PREFETCHT0 64(R12)(R8*1)
	MOVBLZX load+56(FP), R9
	TESTQ R9, R9
	JNE  loadc
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	JMP  loop

loadc:
	MOVQ    DI, R12
	VMOVUPS (R12), Z0
	VMOVUPS 64(R12), Z1
	ADDQ    R8, R12
	VMOVUPS (R12), Z2
	VMOVUPS 64(R12), Z3
	ADDQ    R8, R12
	VMOVUPS (R12), Z4
	VMOVUPS 64(R12), Z5
	ADDQ    R8, R12
	VMOVUPS (R12), Z6
	VMOVUPS 64(R12), Z7
	ADDQ    R8, R12
	VMOVUPS (R12), Z8
	VMOVUPS 64(R12), Z9
	ADDQ    R8, R12
	VMOVUPS (R12), Z10
	VMOVUPS 64(R12), Z11
	ADDQ    R8, R12
	VMOVUPS (R12), Z12
	VMOVUPS 64(R12), Z13
	ADDQ    R8, R12
	VMOVUPS (R12), Z14
	VMOVUPS 64(R12), Z15

loop:
	VMOVUPS (SI), Z16
	VMOVUPS 64(SI), Z17
	VMULPS.BCST  (AX), Z16, Z18
	VMULPS.BCST  (AX), Z17, Z19
	VADDPS       Z18, Z0, Z0
	VADDPS       Z19, Z1, Z1
	VMULPS.BCST  (AX)(BX*1), Z16, Z18
	VMULPS.BCST  (AX)(BX*1), Z17, Z19
	VADDPS       Z18, Z2, Z2
	VADDPS       Z19, Z3, Z3
	VMULPS.BCST  (AX)(BX*2), Z16, Z18
	VMULPS.BCST  (AX)(BX*2), Z17, Z19
	VADDPS       Z18, Z4, Z4
	VADDPS       Z19, Z5, Z5
	VMULPS.BCST  (AX)(R11*1), Z16, Z18
	VMULPS.BCST  (AX)(R11*1), Z17, Z19
	VADDPS       Z18, Z6, Z6
	VADDPS       Z19, Z7, Z7
	VMULPS.BCST  (R10), Z16, Z18
	VMULPS.BCST  (R10), Z17, Z19
	VADDPS       Z18, Z8, Z8
	VADDPS       Z19, Z9, Z9
	VMULPS.BCST  (R10)(BX*1), Z16, Z18
	VMULPS.BCST  (R10)(BX*1), Z17, Z19
	VADDPS       Z18, Z10, Z10
	VADDPS       Z19, Z11, Z11
	VMULPS.BCST  (R10)(BX*2), Z16, Z18
	VMULPS.BCST  (R10)(BX*2), Z17, Z19
	VADDPS       Z18, Z12, Z12
	VADDPS       Z19, Z13, Z13
	VMULPS.BCST  (R10)(R11*1), Z16, Z18
	VMULPS.BCST  (R10)(R11*1), Z17, Z19
	VADDPS       Z18, Z14, Z14
	VADDPS       Z19, Z15, Z15
	ADDQ         DX, AX
	ADDQ         DX, R10
	ADDQ         $128, SI
	DECQ         CX
	JNZ          loop

	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ    R8, DI
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	VZEROUPPER
	RET

// func packRows32(dst, src *float32, kb, lds int)
//
// Copies kb rows of 32 floats, src rows lds floats apart, to dst, densely.
TEXT ·packRows32(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kb+16(FP), CX
	MOVQ lds+24(FP), R9
	SHLQ $2, R9

rowloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    R9, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     rowloop
	VZEROUPPER
	RET
