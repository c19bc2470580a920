/*
 * emu.h: lets the kernels of this directory compile both as CUDA (nvcc, to
 * PTX) and as plain host C (the emulated grid of package
 * train/internal/cuda/hostemu), from the same source.
 *
 * The rules that make the emulation faithful:
 *
 *  - A kernel knows its thread only through GLOBAL_ID(), the index of the
 *    thread in a one-dimensional grid, and returns when it is past the end.
 *  - No shared memory, no __syncthreads, no atomics: every output element is
 *    written by exactly one thread and no thread reads another's output, so
 *    running the threads one after another (the emulation) computes what any
 *    GPU schedule computes.
 *  - Every float operation that feeds a result is spelled as a rounding
 *    intrinsic (__fadd_rn, __fmul_rn, __dadd_rn, __fma_rn, ...): nvcc then
 *    emits separate multiplies and adds (and --fmad=false covers the rest),
 *    and on the host the same names are plain IEEE operations with
 *    contraction into fused multiply-adds switched off below.
 *
 * Device functions are DEVICE, kernels KERNEL (extern "C", so their PTX names
 * are their C names).
 */
#ifndef BISTRO_EMU_H
#define BISTRO_EMU_H

#ifdef __CUDACC__

#define KERNEL extern "C" __global__ void
#define DEVICE static __device__ __forceinline__
#define GLOBAL_ID() ((long long)blockIdx.x * blockDim.x + threadIdx.x)

#else /* host C */

/* No fused multiply-add unless written as __fma_rn: cgo does not accept
 * -ffp-contract=off, so say it here. GCC's ISO modes (-std=c11, which
 * hostemu passes) default to it too. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#define KERNEL void
#define DEVICE static inline
#define __restrict__ restrict

/* The emulated grid: EMU_RUN calls a kernel once per thread of a grid of
 * EMU_BLOCK-thread blocks covering n threads, in thread order. The thread
 * index is per OS thread, so that grids may be emulated concurrently. */
#define EMU_BLOCK 256
extern _Thread_local long long emu_gid;
#define GLOBAL_ID() (emu_gid)
#define EMU_RUN(n, call)                                                       \
	do {                                                                   \
		long long emu_n_ = ((long long)(n) + EMU_BLOCK - 1) / EMU_BLOCK * \
				   EMU_BLOCK;                                  \
		for (emu_gid = 0; emu_gid < emu_n_; emu_gid++) {               \
			call;                                                  \
		}                                                              \
	} while (0)

DEVICE float __fadd_rn(float a, float b) { return a + b; }
DEVICE float __fsub_rn(float a, float b) { return a - b; }
DEVICE float __fmul_rn(float a, float b) { return a * b; }
DEVICE double __dadd_rn(double a, double b) { return a + b; }
DEVICE double __dsub_rn(double a, double b) { return a - b; }
DEVICE double __dmul_rn(double a, double b) { return a * b; }
DEVICE double __ddiv_rn(double a, double b) { return a / b; }
DEVICE double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
DEVICE double __dsqrt_rn(double a) { return sqrt(a); }
DEVICE float __double2float_rn(double a) { return (float)a; }

/* Round to nearest even; out of range (never NaN here) gives INT32_MIN, as
 * both CVTSD2SL and the GPU's saturating conversion do below the range. */
DEVICE int __double2int_rn(double a)
{
	if (!(a > -2147483648.5 && a < 2147483647.5)) {
		return a > 0 ? INT32_MAX : INT32_MIN;
	}
	return (int)nearbyint(a);
}

DEVICE long long __double_as_longlong(double a)
{
	long long b;
	memcpy(&b, &a, sizeof b);
	return b;
}

DEVICE double __longlong_as_double(long long a)
{
	double b;
	memcpy(&b, &a, sizeof b);
	return b;
}

#endif /* __CUDACC__ */

#endif /* BISTRO_EMU_H */
