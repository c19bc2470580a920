/*
 * gomath.h: Go's math.Exp, math.Log and math.Tanh as the CPU trainer computes
 * them, operation for operation, so that kernels get their bits.
 *
 *  - go_exp is math.Exp on amd64 with AVX and FMA: the avxfma path of
 *    math/exp_amd64.s (the one train's pinned hashes hold for; see
 *    train.TestUpdateBits). CVTSD2SL rounds to nearest even, as
 *    __double2int_rn does; each VFMADD/VFNMADD is one __fma_rn.
 *  - go_log is math.Log on amd64 (math/log_amd64.s): no fused operations.
 *  - go_tanh is math.Tanh (math/tanh.go, pure Go), as the Go compiler builds
 *    it below GOAMD64=v3: no fused operations, and Exp as above.
 *
 * Go evaluates constant expressions exactly and rounds once; the constants
 * here are the same decimal literals, which C and CUDA compilers round
 * correctly, and the tests compare the ports with Go's math on many
 * arguments.
 */
#ifndef BISTRO_GOMATH_H
#define BISTRO_GOMATH_H

#include "emu.h"

#define GO_POSINF_BITS 0x7FF0000000000000LL
#define GO_NEGINF_BITS ((long long)0xFFF0000000000000ULL)

DEVICE double go_exp(double x)
{
	const double LOG2E = 1.4426950408889634073599246810018920;
	const double LN2U = 0.69314718055966295651160180568695068359375;
	const double LN2L = 0.28235290563031577122588448175013436025525412068e-12;
	const double OVERFLOW = 7.09782712893384e+02;
	long long bits = __double_as_longlong(x);
	if ((bits & 0x7FFFFFFFFFFFFFFFLL) >= GO_POSINF_BITS) {
		if (bits == GO_NEGINF_BITS) {
			return 0;
		}
		return x; /* NaN or +Inf */
	}
	if (x > OVERFLOW) {
		return __longlong_as_double(GO_POSINF_BITS);
	}
	int bx = __double2int_rn(__dmul_rn(LOG2E, x));
	double k = (double)bx;
	x = __fma_rn(-LN2U, k, x);
	x = __fma_rn(-LN2L, k, x);
	x = __dmul_rn(x, 0.0625);
	double p = 2.4801587301587301587e-5;
	p = __fma_rn(p, x, 1.9841269841269841270e-4);
	p = __fma_rn(p, x, 1.3888888888888888889e-3);
	p = __fma_rn(p, x, 8.3333333333333333333e-3);
	p = __fma_rn(p, x, 4.1666666666666666667e-2);
	p = __fma_rn(p, x, 1.6666666666666666667e-1);
	p = __fma_rn(p, x, 0.5);
	p = __fma_rn(p, x, 1.0);
	x = __dmul_rn(x, p);
	p = __dadd_rn(x, 2.0);
	x = __dmul_rn(x, p);
	p = __dadd_rn(x, 2.0);
	x = __dmul_rn(x, p);
	p = __dadd_rn(x, 2.0);
	x = __dmul_rn(x, p);
	p = __dadd_rn(x, 2.0);
	x = __fma_rn(x, p, 1.0);
	/* x · 2^bx, as the assembly's ldexp tail does it (32-bit exponent
	 * arithmetic; a denormal result in two steps). */
	bx += 0x3FF;
	if (bx <= 0) {
		if (bx < -52) {
			return 0;
		}
		bx += 0x3FE;
		x = __dmul_rn(x, __longlong_as_double((long long)bx << 52));
		bx = 1;
	} else if (bx >= 0x7FF) {
		return __longlong_as_double(GO_POSINF_BITS);
	}
	return __dmul_rn(x, __longlong_as_double((long long)bx << 52));
}

DEVICE double go_log(double x)
{
	const double HSQRT2 = 7.07106781186547524401e-01;
	const double LN2HI = 6.93147180369123816490e-01;
	const double LN2LO = 1.90821492927058770002e-10;
	const double L1 = 6.666666666666735130e-01;
	const double L2 = 3.999999999940941908e-01;
	const double L3 = 2.857142874366239149e-01;
	const double L4 = 2.222219843214978396e-01;
	const double L5 = 1.818357216161805012e-01;
	const double L6 = 1.531383769920937332e-01;
	const double L7 = 1.479819860511658591e-01;
	long long bits = __double_as_longlong(x);
	if ((bits & 0x7FFFFFFFFFFFFFFFLL) == 0) {
		return __longlong_as_double(GO_NEGINF_BITS);
	}
	if (bits < 0) {
		return __longlong_as_double(0x7FF8000000000001LL);
	}
	if (bits >= GO_POSINF_BITS) {
		return x; /* +Inf or NaN */
	}
	/* f1, ki := math.Frexp(x) by the exponent bits (no subnormal case) */
	double f1 = __longlong_as_double((bits & 0x000FFFFFFFFFFFFFLL) | 0x3FE0000000000000LL);
	double k = (double)((int)((bits >> 52) & 0x7FF) - 0x3FE);
	/* CMPSD ..., 5 (not less than): f1 <= √2/2 halves it */
	if (!(HSQRT2 < f1)) {
		k = __dsub_rn(k, 1.0);
		f1 = __dmul_rn(f1, 2.0);
	} else {
		k = __dsub_rn(k, 0.0);
		f1 = __dmul_rn(f1, 1.0);
	}
	double f = __dsub_rn(f1, 1.0);
	double s = __ddiv_rn(f, __dadd_rn(2.0, f));
	double s2 = __dmul_rn(s, s);
	double s4 = __dmul_rn(s2, s2);
	double t1 = __dmul_rn(L7, s4);
	t1 = __dadd_rn(t1, L5);
	t1 = __dmul_rn(t1, s4);
	t1 = __dadd_rn(t1, L3);
	t1 = __dmul_rn(t1, s4);
	t1 = __dadd_rn(t1, L1);
	t1 = __dmul_rn(s2, t1);
	double t2 = __dmul_rn(L6, s4);
	t2 = __dadd_rn(t2, L4);
	t2 = __dmul_rn(t2, s4);
	t2 = __dadd_rn(t2, L2);
	t2 = __dmul_rn(s4, t2);
	double r = __dadd_rn(t1, t2);
	double hfsq = __dmul_rn(__dmul_rn(0.5, f), f);
	double a = __dmul_rn(s, __dadd_rn(hfsq, r));
	a = __dadd_rn(a, __dmul_rn(LN2LO, k));
	a = __dsub_rn(__dsub_rn(hfsq, a), f);
	return __dsub_rn(__dmul_rn(k, LN2HI), a);
}

DEVICE double go_tanh(double x)
{
	const double MAXLOG = 8.8029691931113054295988e+01; /* log(2**127) */
	const double P0 = -9.64399179425052238628e-1;
	const double P1 = -9.92877231001918586564e1;
	const double P2 = -1.61468768441708447952e3;
	const double Q0 = 1.12811678491632931402e2;
	const double Q1 = 2.23548839060100448583e3;
	const double Q2 = 4.84406305325125486048e3;
	double z = __longlong_as_double(__double_as_longlong(x) & 0x7FFFFFFFFFFFFFFFLL);
	if (z > 0.5 * MAXLOG) {
		return x < 0 ? -1.0 : 1.0;
	}
	if (z >= 0.625) {
		double s = go_exp(__dmul_rn(2.0, z));
		z = __dsub_rn(1.0, __ddiv_rn(2.0, __dadd_rn(s, 1.0)));
		return x < 0 ? -z : z;
	}
	if (x == 0) {
		return x;
	}
	double s = __dmul_rn(x, x);
	double num = __dadd_rn(__dmul_rn(__dadd_rn(__dmul_rn(P0, s), P1), s), P2);
	double den = __dadd_rn(__dmul_rn(__dadd_rn(__dmul_rn(__dadd_rn(s, Q0), s), Q1), s), Q2);
	return __dadd_rn(x, __ddiv_rn(__dmul_rn(__dmul_rn(x, s), num), den));
}

/* go_max is Go's built-in max of two float64s: NaN if either is, +0 over
 * −0. */
DEVICE double go_max(double a, double b)
{
	if (a != a) {
		return a;
	}
	if (b != b) {
		return b;
	}
	if (a == b) {
		return __double_as_longlong(a) < 0 ? b : a;
	}
	return a > b ? a : b;
}

#endif /* BISTRO_GOMATH_H */
