//go:build !purego

#include "textflag.h"

// func sgemm6x16(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool)
//
// The 6×16 block of C at c (rows ldc bytes apart) gets, for each of its
// elements, s = (load ? c : 0) then s += float32(A(i,p)·B(p,j)) for p = 0 …
// k−1 in order, k ≥ 1: VMULPS rounds each product, VADDPS adds it, never a
// fused multiply-add. A(i,p) is at a + i·rsa + p·csa (bytes); B is packed,
// B(p,j) at b + 64·p + 4·j. Each lane of a vector is a different output
// element, so the sum of every element is the naive loop's.
//
// Registers: Y0–Y11 the 6×2 accumulators, Y12 Y13 a row of B, Y14 A(i,p)
// broadcast, Y15 the product. Rows of A: AX, AX+BX, AX+2BX, R10, R10+BX,
// R10+2BX, R10 = AX+3BX.
TEXT ·sgemm6x16(SB), NOSPLIT, $0-57
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ rsa+16(FP), BX
	MOVQ csa+24(FP), DX
	MOVQ b+32(FP), SI
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), R8
	LEAQ (AX)(BX*2), R10
	ADDQ BX, R10
	MOVBLZX load+56(FP), R9
	TESTQ R9, R9
	JNE  loadc
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	JMP  loop

loadc:
	MOVQ    DI, R11
	VMOVUPS (R11), Y0
	VMOVUPS 32(R11), Y1
	ADDQ    R8, R11
	VMOVUPS (R11), Y2
	VMOVUPS 32(R11), Y3
	ADDQ    R8, R11
	VMOVUPS (R11), Y4
	VMOVUPS 32(R11), Y5
	ADDQ    R8, R11
	VMOVUPS (R11), Y6
	VMOVUPS 32(R11), Y7
	ADDQ    R8, R11
	VMOVUPS (R11), Y8
	VMOVUPS 32(R11), Y9
	ADDQ    R8, R11
	VMOVUPS (R11), Y10
	VMOVUPS 32(R11), Y11

loop:
	VMOVUPS      (SI), Y12
	VMOVUPS      32(SI), Y13
	VBROADCASTSS (AX), Y14
	VMULPS       Y12, Y14, Y15
	VADDPS       Y15, Y0, Y0
	VMULPS       Y13, Y14, Y15
	VADDPS       Y15, Y1, Y1
	VBROADCASTSS (AX)(BX*1), Y14
	VMULPS       Y12, Y14, Y15
	VADDPS       Y15, Y2, Y2
	VMULPS       Y13, Y14, Y15
	VADDPS       Y15, Y3, Y3
	VBROADCASTSS (AX)(BX*2), Y14
	VMULPS       Y12, Y14, Y15
	VADDPS       Y15, Y4, Y4
	VMULPS       Y13, Y14, Y15
	VADDPS       Y15, Y5, Y5
	VBROADCASTSS (R10), Y14
	VMULPS       Y12, Y14, Y15
	VADDPS       Y15, Y6, Y6
	VMULPS       Y13, Y14, Y15
	VADDPS       Y15, Y7, Y7
	VBROADCASTSS (R10)(BX*1), Y14
	VMULPS       Y12, Y14, Y15
	VADDPS       Y15, Y8, Y8
	VMULPS       Y13, Y14, Y15
	VADDPS       Y15, Y9, Y9
	VBROADCASTSS (R10)(BX*2), Y14
	VMULPS       Y12, Y14, Y15
	VADDPS       Y15, Y10, Y10
	VMULPS       Y13, Y14, Y15
	VADDPS       Y15, Y11, Y11
	ADDQ         DX, AX
	ADDQ         DX, R10
	ADDQ         $64, SI
	DECQ         CX
	JNZ          loop

	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    R8, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    R8, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ    R8, DI
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 32(DI)
	ADDQ    R8, DI
	VMOVUPS Y10, (DI)
	VMOVUPS Y11, 32(DI)
	VZEROUPPER
	RET

// func packRows16(dst, src *float32, kb, lds int)
//
// Copies kb rows of 16 floats, src rows lds floats apart, to dst, densely.
TEXT ·packRows16(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kb+16(FP), CX
	MOVQ lds+24(FP), R9
	SHLQ $2, R9

rowloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R9, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     rowloop
	VZEROUPPER
	RET

// func transpose8x8(dst *float32, ldd int, src *float32, lds int)
//
// Sets the 8×8 block at dst (rows ldd floats apart) to the transpose of the
// one at src (rows lds floats apart).
TEXT ·transpose8x8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R8
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R9*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	LEAQ    (SI)(R9*4), SI
	VMOVUPS (SI), Y4
	VMOVUPS (SI)(R9*1), Y5
	VMOVUPS (SI)(R9*2), Y6
	VMOVUPS (SI)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	LEAQ    (R8)(R8*2), R10
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R8*1)
	VMOVUPS Y10, (DI)(R8*2)
	VMOVUPS Y11, (DI)(R10*1)
	LEAQ    (DI)(R8*4), DI
	VMOVUPS Y12, (DI)
	VMOVUPS Y13, (DI)(R8*1)
	VMOVUPS Y14, (DI)(R8*2)
	VMOVUPS Y15, (DI)(R10*1)
	VZEROUPPER
	RET
