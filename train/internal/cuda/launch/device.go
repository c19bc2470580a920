// Package launch holds the launch sequences of train/cuda's trainers: which
// kernel of package train/internal/cuda/kernels runs when, on which buffers, written
// once against Device. The CUDA device of package train/cuda (build tag
// cuda) and the emulated grid of package train/internal/cuda/hostemu both
// implement Device, so the sequence the tests check bit for bit against
// package train on any machine is the sequence the GPU runs.
package launch

import "errors"

// Ptr is an address in a Device's memory; 0 is the null pointer. Adding a
// byte offset to a Ptr inside an allocation gives a Ptr into it.
type Ptr uintptr

// Device is memory and a one-dimensional grid of threads that runs the
// kernels of package train/internal/cuda/kernels. A Device is used by one goroutine
// at a time; MLP serialises its calls.
type Device interface {
	// Alloc returns a new allocation of n > 0 bytes, zeroed, aligned for
	// float64.
	Alloc(n int) (Ptr, error)
	// Free releases an allocation returned by Alloc.
	Free(p Ptr) error
	// Zero sets n bytes at p to zero.
	Zero(p Ptr, n int) error
	// CopyIn copies src, a []float32, []float64 or []int32, to dst.
	CopyIn(dst Ptr, src any) error
	// CopyOut copies from src into dst, a []float32, []float64 or []int32,
	// filling it.
	CopyOut(dst any, src Ptr) error
	// Launch runs the kernel named name (a PTX name from package kernels)
	// on a grid of at least threads threads and waits for it. args are its
	// parameters in order: Ptr for a pointer, int32 for an int, int64 for a
	// long long, float64 for a double.
	Launch(name string, threads int, args ...any) error
}

// ErrArgs is wrapped by a Device's errors about kernel arguments it cannot
// pass (a type other than Ptr, int32, int64 and float64, or a count that is not
// the kernel's).
var ErrArgs = errors.New("launch: bad kernel arguments")
