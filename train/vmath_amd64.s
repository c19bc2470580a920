//go:build !purego

#include "textflag.h"

// Four-lane float64 replicas of math.Exp and math.Tanh, bit for bit: the
// same IEEE operations in the same order as math/exp_amd64.s (its FMA path,
// which math takes on every CPU with AVX and FMA) and math/tanh.go (as the
// compiler builds it below GOAMD64=v3: no fused multiply-add), one lane per
// element. Lanes whose argument would take a special path of math's code
// stop the loop early; the Go caller computes that group with math itself.

// Constants, four copies each so that they serve as 256-bit operands.
#define C4(off, val) DATA vmathc<>+(off)(SB)/8, val; DATA vmathc<>+(off+8)(SB)/8, val; DATA vmathc<>+(off+16)(SB)/8, val; DATA vmathc<>+(off+24)(SB)/8, val

C4(0, $1.4426950408889634073599246810018920)      // LOG2E
C4(32, $0.69314718055966295651160180568695068359375) // LN2U
C4(64, $0.28235290563031577122588448175013436025525412068e-12) // LN2L
C4(96, $0.0625)
C4(128, $2.4801587301587301587e-5)
C4(160, $1.9841269841269841270e-4)
C4(192, $1.3888888888888888889e-3)
C4(224, $8.3333333333333333333e-3)
C4(256, $4.1666666666666666667e-2)
C4(288, $1.6666666666666666667e-1)
C4(320, $0.5)
C4(352, $1.0)
C4(384, $2.0)
C4(416, $1023)                                    // int64 exponent bias
C4(448, $0x7FFFFFFFFFFFFFFF)                      // |x| mask
C4(480, $0x8000000000000000)                      // sign mask
C4(512, $-708.0)                                  // exp's range without special paths
C4(544, $709.0)
C4(576, $0.625)                                   // tanh's branch points
C4(608, $44.014845965556527147994)                // 0.5·MAXLOG = 0.5·8.8029691931113054295988e+01
C4(640, $-9.64399179425052238628e-1)             // tanhP
C4(672, $-9.92877231001918586564e1)
C4(704, $-1.61468768441708447952e3)
C4(736, $1.12811678491632931402e2)               // tanhQ
C4(768, $2.23548839060100448583e3)
C4(800, $4.84406305325125486048e3)
C4(832, $0.7978845608028654)                      // geluC, √(2/π)
C4(864, $0.044715)                                // geluA
C4(896, $0.134145)                                // 3·geluA, folded as Go folds it
GLOBL vmathc<>(SB), RODATA, $928

#define LOG2E vmathc<>+0(SB)
#define LN2U vmathc<>+32(SB)
#define LN2L vmathc<>+64(SB)
#define SIXTEENTH vmathc<>+96(SB)
#define E8 vmathc<>+128(SB)
#define E7 vmathc<>+160(SB)
#define E6 vmathc<>+192(SB)
#define E5 vmathc<>+224(SB)
#define E4 vmathc<>+256(SB)
#define E3 vmathc<>+288(SB)
#define HALF vmathc<>+320(SB)
#define ONE vmathc<>+352(SB)
#define TWO vmathc<>+384(SB)
#define BIAS vmathc<>+416(SB)
#define ABSMASK vmathc<>+448(SB)
#define SIGNMASK vmathc<>+480(SB)
#define EXPLO vmathc<>+512(SB)
#define EXPHI vmathc<>+544(SB)
#define TANHMID vmathc<>+576(SB)
#define TANHBIG vmathc<>+608(SB)
#define P0 vmathc<>+640(SB)
#define P1 vmathc<>+672(SB)
#define P2 vmathc<>+704(SB)
#define Q0 vmathc<>+736(SB)
#define Q1 vmathc<>+768(SB)
#define Q2 vmathc<>+800(SB)
#define GELUC vmathc<>+832(SB)
#define GELUA vmathc<>+864(SB)
#define GELUA3 vmathc<>+896(SB)

// EXP4 sets out to exp(in) for four lanes in the range [-708, 709], as
// math/exp_amd64.s computes it (FMA path, then the normal ldexp branch).
// It clobbers in, t1, t2 and xi (the X register of t2).
#define EXP4(in, out, t1, t2, xi) \
	VMULPD       LOG2E, in, t1; \
	VCVTPD2DQY   t1, xi; \
	VCVTDQ2PD    xi, t1; \
	VFNMADD231PD LN2U, t1, in; \
	VFNMADD231PD LN2L, t1, in; \
	VMULPD       SIXTEENTH, in, in; \
	VMOVUPD      E8, out; \
	VFMADD213PD  E7, in, out; \
	VFMADD213PD  E6, in, out; \
	VFMADD213PD  E5, in, out; \
	VFMADD213PD  E4, in, out; \
	VFMADD213PD  E3, in, out; \
	VFMADD213PD  HALF, in, out; \
	VFMADD213PD  ONE, in, out; \
	VMULPD       out, in, in; \
	VADDPD       TWO, in, out; \
	VMULPD       out, in, in; \
	VADDPD       TWO, in, out; \
	VMULPD       out, in, in; \
	VADDPD       TWO, in, out; \
	VMULPD       out, in, in; \
	VADDPD       TWO, in, out; \
	VFMADD213PD  ONE, out, in; \
	VPMOVSXDQ    xi, t2; \
	VPADDQ       BIAS, t2, t2; \
	VPSLLQ       $52, t2, t2; \
	VMULPD       t2, in, out

// func expAVX2(dst, src *float64, n int) int
//
// Sets dst[i] = math.Exp(src[i]) four at a time and returns how many it
// set: it stops before the first group of four that holds an argument
// outside [-708, 709] (NaN included), or fewer than four.
TEXT ·expAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

exploop:
	LEAQ    4(AX), DX
	CMPQ    DX, CX
	JGT     expdone
	VMOVUPD (SI)(AX*8), Y0
	VCMPPD  $0x1D, EXPLO, Y0, Y1 // x >= -708, false for NaN
	VCMPPD  $0x12, EXPHI, Y0, Y2 // x <= 709
	VANDPD  Y1, Y2, Y1
	VMOVMSKPD Y1, DX
	CMPQ    DX, $15
	JNE     expdone
	EXP4(Y0, Y3, Y4, Y5, X5)
	VMOVUPD Y3, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     exploop

expdone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// TANH4 sets Y5 to math.Tanh of the four lanes of Y0 (no NaN), as
// tanhAVX2 describes; it clobbers Y1–Y13.
#define TANH4 \
	VMULPD  Y0, Y0, Y2; \
	VMULPD  P0, Y2, Y3; \
	VADDPD  P1, Y3, Y3; \
	VMULPD  Y2, Y3, Y3; \
	VADDPD  P2, Y3, Y3; \
	VADDPD  Q0, Y2, Y4; \
	VMULPD  Y2, Y4, Y4; \
	VADDPD  Q1, Y4, Y4; \
	VMULPD  Y2, Y4, Y4; \
	VADDPD  Q2, Y4, Y4; \
	VMULPD  Y2, Y0, Y5; \
	VMULPD  Y3, Y5, Y5; \
	VDIVPD  Y4, Y5, Y5; \
	VADDPD  Y5, Y0, Y5; \
	VXORPD  Y6, Y6, Y6; \
	VCMPPD  $0, Y6, Y0, Y6; \
	VBLENDVPD Y6, Y0, Y5, Y5; \
	VANDPD  ABSMASK, Y0, Y1; \
	VADDPD  Y1, Y1, Y7; \
	VMINPD  EXPHI, Y7, Y7; \
	EXP4(Y7, Y8, Y9, Y10, X10); \
	VADDPD  ONE, Y8, Y8; \
	VMOVUPD TWO, Y9; \
	VDIVPD  Y8, Y9, Y8; \
	VMOVUPD ONE, Y9; \
	VSUBPD  Y8, Y9, Y8; \
	VANDPD  SIGNMASK, Y0, Y11; \
	VXORPD  Y11, Y8, Y8; \
	VORPD   ONE, Y11, Y12; \
	VCMPPD    $0x1D, TANHMID, Y1, Y13; \
	VBLENDVPD Y13, Y8, Y5, Y5; \
	VCMPPD    $0x1E, TANHBIG, Y1, Y13; \
	VBLENDVPD Y13, Y12, Y5, Y5

// func tanhAVX2(dst, src *float64, n int) int
//
// Sets dst[i] = math.Tanh(src[i]) four at a time and returns how many it
// set: it stops before the first group of four that holds a NaN, or fewer
// than four. Per lane, as math/tanh.go:
//
//	z = |x|
//	z > 0.5·MAXLOG:  ±1
//	z ≥ 0.625:       s = Exp(2z); 1 − 2/(s+1), negated for x < 0
//	x = 0:           x
//	else:            s = x·x; x + x·s·((P0·s+P1)·s+P2) / (((s+Q0)·s+Q1)·s+Q2)
//
// every branch computed, the lane's branch selected.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

tanhloop:
	LEAQ      4(AX), DX
	CMPQ      DX, CX
	JGT       tanhdone
	VMOVUPD   (SI)(AX*8), Y0
	VCMPPD    $3, Y0, Y0, Y1 // unordered: NaN
	VMOVMSKPD Y1, DX
	TESTQ     DX, DX
	JNE       tanhdone

	TANH4
	VMOVUPD   Y5, (DI)(AX*8)
	ADDQ      $4, AX
	JMP       tanhloop

tanhdone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func sumSqAVX2(gp **float32, ng int, base, dst *float64, n int, total, sq float64) float64
//
// For k = 0 … n−1 (n a multiple of 4): s = base[k] (0 when base is nil),
// s += float64(g[k]) for each of the ng gradients g = gp[0] … gp[ng−1] in
// order, s /= total, dst[k] = s unless dst is nil, and sq += s·s, k
// ascending, one lane after the other. Returns sq. The element offset is
// already in the pointers.
TEXT ·sumSqAVX2(SB), NOSPLIT, $0-64
	MOVQ         gp+0(FP), R8
	MOVQ         ng+8(FP), R9
	MOVQ         base+16(FP), R10
	MOVQ         dst+24(FP), R11
	MOVQ         n+32(FP), CX
	VBROADCASTSD total+40(FP), Y13
	VMOVSD       sq+48(FP), X14
	XORQ         AX, AX // element index

sqloop:
	CMPQ   AX, CX
	JGE    sqdone
	VXORPD Y0, Y0, Y0
	TESTQ  R10, R10
	JEQ    sqsum
	VMOVUPD (R10)(AX*8), Y0

sqsum:
	XORQ BX, BX

sqgrad:
	CMPQ      BX, R9
	JGE       sqdiv
	MOVQ      (R8)(BX*8), DX
	VCVTPS2PD (DX)(AX*4), Y3
	VADDPD    Y3, Y0, Y0
	INCQ      BX
	JMP       sqgrad

sqdiv:
	VDIVPD Y13, Y0, Y0
	TESTQ  R11, R11
	JEQ    sqnorm
	VMOVUPD Y0, (R11)(AX*8)

sqnorm:
	VMULPD       Y0, Y0, Y1
	VADDSD       X1, X14, X14
	VPERMILPD    $1, X1, X2
	VADDSD       X2, X14, X14
	VEXTRACTF128 $1, Y1, X1
	VADDSD       X1, X14, X14
	VPERMILPD    $1, X1, X2
	VADDSD       X2, X14, X14
	ADDQ         $4, AX
	JMP          sqloop

sqdone:
	VMOVSD X14, ret+56(FP)
	VZEROUPPER
	RET

// func deltaAVX2(out *float32, gp **float32, ng, n int, total, coef float64)
//
// For k = 0 … n−1 (n a multiple of 4): s = 0, s += float64(g[k]) for each
// gradient in order, out[k] = float32(coef · (s / total)).
TEXT ·deltaAVX2(SB), NOSPLIT, $0-48
	MOVQ         out+0(FP), DI
	MOVQ         gp+8(FP), R8
	MOVQ         ng+16(FP), R9
	MOVQ         n+24(FP), CX
	VBROADCASTSD total+32(FP), Y13
	VBROADCASTSD coef+40(FP), Y12
	XORQ         AX, AX

dloop:
	CMPQ   AX, CX
	JGE    ddone
	VXORPD Y0, Y0, Y0
	XORQ   BX, BX

dgrad:
	CMPQ      BX, R9
	JGE       dout
	MOVQ      (R8)(BX*8), DX
	VCVTPS2PD (DX)(AX*4), Y3
	VADDPD    Y3, Y0, Y0
	INCQ      BX
	JMP       dgrad

dout:
	VDIVPD     Y13, Y0, Y0
	VMULPD     Y12, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        dloop

ddone:
	VZEROUPPER
	RET

// GELU4U sets Y0 to u = geluC·(z + ((geluA·z)·z)·z) for z in Y14, as
// geluForward computes it.
#define GELU4U \
	VMULPD GELUA, Y14, Y0; \
	VMULPD Y14, Y0, Y0; \
	VMULPD Y14, Y0, Y0; \
	VADDPD Y0, Y14, Y0; \
	VMULPD GELUC, Y0, Y0

// func geluFwdAVX2(y, x *float32, n int) int
//
// Sets y[i] = float32(0.5·z·(1 + tanh(u))), z = float64(x[i]) and u as
// GELU4U, four at a time, as geluForward does; returns how many it set
// (it stops before a group whose u holds a NaN, or fewer than four).
TEXT ·geluFwdAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

gfloop:
	LEAQ      4(AX), DX
	CMPQ      DX, CX
	JGT       gfdone
	VCVTPS2PD (SI)(AX*4), Y14
	GELU4U
	VCMPPD    $3, Y0, Y0, Y1
	VMOVMSKPD Y1, DX
	TESTQ     DX, DX
	JNE       gfdone
	TANH4
	VADDPD     ONE, Y5, Y5
	VMULPD     HALF, Y14, Y6
	VMULPD     Y5, Y6, Y6
	VCVTPD2PSY Y6, X6
	VMOVUPS    X6, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        gfloop

gfdone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func geluBwdAVX2(dx, dy, x *float32, n int) int
//
// Sets dx[i] = float32(float64(dy[i])·d) with t = tanh(u) and
// d = 0.5·(1+t) + ((0.5·z)·(1−t·t))·geluC·(1 + ((3·geluA)·z)·z), as
// geluBackward does, four at a time; returns how many it set (see
// geluFwdAVX2).
TEXT ·geluBwdAVX2(SB), NOSPLIT, $0-40
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	XORQ AX, AX

gbloop:
	LEAQ      4(AX), DX
	CMPQ      DX, CX
	JGT       gbdone
	VCVTPS2PD (SI)(AX*4), Y14
	GELU4U
	VCMPPD    $3, Y0, Y0, Y1
	VMOVMSKPD Y1, DX
	TESTQ     DX, DX
	JNE       gbdone
	TANH4
	VADDPD    ONE, Y5, Y6  // 1+t
	VMULPD    HALF, Y6, Y6 // 0.5·(1+t)
	VMULPD    Y5, Y5, Y7   // t·t
	VMOVUPD   ONE, Y9
	VSUBPD    Y7, Y9, Y7   // 1 − t·t
	VMULPD    HALF, Y14, Y8
	VMULPD    Y7, Y8, Y8
	VMULPD    GELUC, Y8, Y8
	VMULPD    GELUA3, Y14, Y10
	VMULPD    Y14, Y10, Y10
	VADDPD    ONE, Y10, Y10
	VMULPD    Y10, Y8, Y8
	VADDPD    Y8, Y6, Y6   // d
	VCVTPS2PD (R8)(AX*4), Y15
	VMULPD    Y6, Y15, Y6
	VCVTPD2PSY Y6, X6
	VMOVUPS   X6, (DI)(AX*4)
	ADDQ      $4, AX
	JMP       gbloop

gbdone:
	MOVQ AX, ret+32(FP)
	VZEROUPPER
	RET

// The AVX-512F replicas: the same operations as EXP4, TANH4 and the GELU
// loops above, eight lanes at a time on ZMM registers, so the same bits
// (each lane's operations are those of math's code, in its order, with the
// same roundings). Constants come by embedded broadcast ({1to8}) from the
// table above. Only AVX-512F instructions: masks in K registers, integer
// logic (VPANDQ, VPXORQ) for the sign bits.

// EXP8 is EXP4 on eight lanes: out = exp(in) for lanes in [-708, 709]. It
// clobbers in, t1, t2 and yi (the Y register of t2).
#define EXP8(in, out, t1, t2, yi) \
	VMULPD.BCST       LOG2E, in, t1; \
	VCVTPD2DQ         t1, yi; \
	VCVTDQ2PD         yi, t1; \
	VFNMADD231PD.BCST LN2U, t1, in; \
	VFNMADD231PD.BCST LN2L, t1, in; \
	VMULPD.BCST       SIXTEENTH, in, in; \
	VBROADCASTSD      E8, out; \
	VFMADD213PD.BCST  E7, in, out; \
	VFMADD213PD.BCST  E6, in, out; \
	VFMADD213PD.BCST  E5, in, out; \
	VFMADD213PD.BCST  E4, in, out; \
	VFMADD213PD.BCST  E3, in, out; \
	VFMADD213PD.BCST  HALF, in, out; \
	VFMADD213PD.BCST  ONE, in, out; \
	VMULPD            out, in, in; \
	VADDPD.BCST       TWO, in, out; \
	VMULPD            out, in, in; \
	VADDPD.BCST       TWO, in, out; \
	VMULPD            out, in, in; \
	VADDPD.BCST       TWO, in, out; \
	VMULPD            out, in, in; \
	VADDPD.BCST       TWO, in, out; \
	VFMADD213PD.BCST  ONE, out, in; \
	VPMOVSXDQ         yi, t2; \
	VPADDQ.BCST       BIAS, t2, t2; \
	VPSLLQ            $52, t2, t2; \
	VMULPD            t2, in, out

// func expAVX512(dst, src *float64, n int) int
//
// expAVX2 eight at a time: it stops before the first group of eight that
// holds an argument outside [-708, 709] (NaN included), or fewer than eight.
TEXT ·expAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

exp8loop:
	LEAQ         8(AX), DX
	CMPQ         DX, CX
	JGT          exp8done
	VMOVUPD      (SI)(AX*8), Z0
	VCMPPD.BCST  $0x1D, EXPLO, Z0, K1 // x >= -708, false for NaN
	VCMPPD.BCST  $0x12, EXPHI, Z0, K2 // x <= 709
	KANDW        K1, K2, K1
	KMOVW        K1, DX
	CMPQ         DX, $0xFF
	JNE          exp8done
	EXP8(Z0, Z3, Z4, Z5, Y5)
	VMOVUPD      Z3, (DI)(AX*8)
	ADDQ         $8, AX
	JMP          exp8loop

exp8done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// TANH8 is TANH4 on eight lanes: Z5 = math.Tanh(Z0), no NaN in Z0. It
// clobbers Z1–Z13 and K1–K3.
#define TANH8 \
	VMULPD       Z0, Z0, Z2; \
	VMULPD.BCST  P0, Z2, Z3; \
	VADDPD.BCST  P1, Z3, Z3; \
	VMULPD       Z2, Z3, Z3; \
	VADDPD.BCST  P2, Z3, Z3; \
	VADDPD.BCST  Q0, Z2, Z4; \
	VMULPD       Z2, Z4, Z4; \
	VADDPD.BCST  Q1, Z4, Z4; \
	VMULPD       Z2, Z4, Z4; \
	VADDPD.BCST  Q2, Z4, Z4; \
	VMULPD       Z2, Z0, Z5; \
	VMULPD       Z3, Z5, Z5; \
	VDIVPD       Z4, Z5, Z5; \
	VADDPD       Z5, Z0, Z5; \
	VPXORQ       Z6, Z6, Z6; \
	VCMPPD       $0, Z6, Z0, K1; \
	VMOVAPD      Z0, K1, Z5; \
	VPANDQ.BCST  ABSMASK, Z0, Z1; \
	VADDPD       Z1, Z1, Z7; \
	VMINPD.BCST  EXPHI, Z7, Z7; \
	EXP8(Z7, Z8, Z9, Z10, Y10); \
	VADDPD.BCST  ONE, Z8, Z8; \
	VBROADCASTSD TWO, Z9; \
	VDIVPD       Z8, Z9, Z8; \
	VBROADCASTSD ONE, Z9; \
	VSUBPD       Z8, Z9, Z8; \
	VPANDQ.BCST  SIGNMASK, Z0, Z11; \
	VPXORQ       Z11, Z8, Z8; \
	VPORQ.BCST   ONE, Z11, Z12; \
	VCMPPD.BCST  $0x1D, TANHMID, Z1, K2; \
	VMOVAPD      Z8, K2, Z5; \
	VCMPPD.BCST  $0x1E, TANHBIG, Z1, K3; \
	VMOVAPD      Z12, K3, Z5

// func tanhAVX512(dst, src *float64, n int) int
//
// tanhAVX2 eight at a time: it stops before the first group of eight that
// holds a NaN, or fewer than eight.
TEXT ·tanhAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

tanh8loop:
	LEAQ    8(AX), DX
	CMPQ    DX, CX
	JGT     tanh8done
	VMOVUPD (SI)(AX*8), Z0
	VCMPPD  $3, Z0, Z0, K1 // unordered: NaN
	KORTESTW K1, K1
	JNE     tanh8done
	TANH8
	VMOVUPD Z5, (DI)(AX*8)
	ADDQ    $8, AX
	JMP     tanh8loop

tanh8done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// GELU8U is GELU4U on eight lanes: Z0 = u for z in Z14.
#define GELU8U \
	VMULPD.BCST GELUA, Z14, Z0; \
	VMULPD      Z14, Z0, Z0; \
	VMULPD      Z14, Z0, Z0; \
	VADDPD      Z0, Z14, Z0; \
	VMULPD.BCST GELUC, Z0, Z0

// func geluFwdAVX512(y, x *float32, n int) int
//
// geluFwdAVX2 eight at a time.
TEXT ·geluFwdAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

gf8loop:
	LEAQ      8(AX), DX
	CMPQ      DX, CX
	JGT       gf8done
	VCVTPS2PD (SI)(AX*4), Z14
	GELU8U
	VCMPPD    $3, Z0, Z0, K1
	KORTESTW  K1, K1
	JNE       gf8done
	TANH8
	VADDPD.BCST ONE, Z5, Z5
	VMULPD.BCST HALF, Z14, Z6
	VMULPD      Z5, Z6, Z6
	VCVTPD2PS   Z6, Y6
	VMOVUPS     Y6, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         gf8loop

gf8done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func geluBwdAVX512(dx, dy, x *float32, n int) int
//
// geluBwdAVX2 eight at a time.
TEXT ·geluBwdAVX512(SB), NOSPLIT, $0-40
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	XORQ AX, AX

gb8loop:
	LEAQ      8(AX), DX
	CMPQ      DX, CX
	JGT       gb8done
	VCVTPS2PD (SI)(AX*4), Z14
	GELU8U
	VCMPPD    $3, Z0, Z0, K1
	KORTESTW  K1, K1
	JNE       gb8done
	TANH8
	VADDPD.BCST  ONE, Z5, Z6  // 1+t
	VMULPD.BCST  HALF, Z6, Z6 // 0.5·(1+t)
	VMULPD       Z5, Z5, Z7   // t·t
	VBROADCASTSD ONE, Z9
	VSUBPD       Z7, Z9, Z7   // 1 − t·t
	VMULPD.BCST  HALF, Z14, Z8
	VMULPD       Z7, Z8, Z8
	VMULPD.BCST  GELUC, Z8, Z8
	VMULPD.BCST  GELUA3, Z14, Z10
	VMULPD       Z14, Z10, Z10
	VADDPD.BCST  ONE, Z10, Z10
	VMULPD       Z10, Z8, Z8
	VADDPD       Z8, Z6, Z6   // d
	VCVTPS2PD    (R8)(AX*4), Z15
	VMULPD       Z6, Z15, Z6
	VCVTPD2PS    Z6, Y6
	VMOVUPS      Y6, (DI)(AX*4)
	ADDQ         $8, AX
	JMP          gb8loop

gb8done:
	MOVQ AX, ret+32(FP)
	VZEROUPPER
	RET
