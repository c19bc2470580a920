// Package hostemu runs the CUDA kernels of package train/internal/cuda/kernels on the
// host: cgo compiles the very .cu sources as C (kernels/emu.h maps the CUDA
// names to plain IEEE operations, with no contraction into fused
// multiply-adds) and Device runs each kernel once per thread of its grid, in
// thread order. Because the kernels keep emu.h's rules (one writer per
// output, no shared memory, no synchronisation), that computes what the GPU
// computes, and its tests check the whole launch sequence of package
// train/internal/cuda/launch against package train bit for bit, on machines
// without a GPU.
//
// It is a test helper: slow (one thread at a time, naive loops), and not
// used by the trainers.
//
// It needs cgo; without it the package is empty.
package hostemu
