//go:build cgo

package hostemu

/*
#cgo CFLAGS: -std=c11 -O2 -I${SRCDIR}/../kernels
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include "hostemu.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/bistro-go/bistro/train/internal/cuda/kernels"
	"github.com/bistro-go/bistro/train/internal/cuda/launch"
)

// The go command does not track the sources emu.c includes from
// ../kernels; depending on package kernels, which embeds them, makes it
// rebuild this package whenever they change.
var _ = kernels.Sources

// Device is a launch.Device in host memory (C's, so that kernels may hold
// pointers into it) running kernels on the emulated grid. The zero value is
// ready to use; it is not safe for concurrent use, but Devices are
// independent of each other.
type Device struct {
	sizes map[launch.Ptr]int
}

var _ launch.Device = (*Device)(nil)

// Alloc returns n zeroed bytes of C memory.
func (d *Device) Alloc(n int) (launch.Ptr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("hostemu: alloc %d bytes", n)
	}
	p := C.calloc(C.size_t(n), 1)
	if p == nil {
		return 0, fmt.Errorf("hostemu: alloc %d bytes: out of memory", n)
	}
	if d.sizes == nil {
		d.sizes = map[launch.Ptr]int{}
	}
	ptr := launch.Ptr(p)
	d.sizes[ptr] = n
	return ptr, nil
}

// Free releases an allocation of Alloc.
func (d *Device) Free(p launch.Ptr) error {
	if _, ok := d.sizes[p]; !ok {
		return fmt.Errorf("hostemu: free of %#x, not an allocation", p)
	}
	delete(d.sizes, p)
	C.free(ptr(p))
	return nil
}

// ptr turns a device address back into the C pointer it is.
func ptr(p launch.Ptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&p))
}

// bytes returns the n bytes at p.
func bytes(p launch.Ptr, n int) []byte {
	return unsafe.Slice((*byte)(ptr(p)), n)
}

// raw views a []float32, []float64 or []int32 as bytes.
func raw(s any) ([]byte, error) {
	switch s := s.(type) {
	case []float32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s)), nil
	case []float64:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 8*len(s)), nil
	case []int32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s)), nil
	}
	return nil, fmt.Errorf("hostemu: copy of a %T", s)
}

// Zero sets n bytes at p to zero.
func (d *Device) Zero(p launch.Ptr, n int) error {
	clear(bytes(p, n))
	return nil
}

// CopyIn copies src to dst.
func (d *Device) CopyIn(dst launch.Ptr, src any) error {
	b, err := raw(src)
	if err != nil {
		return err
	}
	copy(bytes(dst, len(b)), b)
	return nil
}

// CopyOut copies from src into dst.
func (d *Device) CopyOut(dst any, src launch.Ptr) error {
	b, err := raw(dst)
	if err != nil {
		return err
	}
	copy(b, bytes(src, len(b)))
	return nil
}

// Launch runs the kernel on the emulated grid.
func (d *Device) Launch(name string, threads int, args ...any) error {
	slots := (*[32]C.uint64_t)(C.calloc(32, 8))
	defer C.free(unsafe.Pointer(slots))
	if len(args) > len(slots) {
		return fmt.Errorf("%w: %d arguments", launch.ErrArgs, len(args))
	}
	for i, a := range args {
		switch a := a.(type) {
		case launch.Ptr:
			slots[i] = C.uint64_t(a)
		case int32:
			slots[i] = C.uint64_t(uint64(int64(a)))
		case int64:
			slots[i] = C.uint64_t(uint64(a))
		case float64:
			slots[i] = C.uint64_t(math.Float64bits(a))
		default:
			return fmt.Errorf("%w: argument %d is a %T", launch.ErrArgs, i, a)
		}
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	switch rc := C.emu_launch(cname, C.longlong(threads), &slots[0], C.int(len(args))); rc {
	case 0:
		return nil
	case -1:
		return fmt.Errorf("hostemu: no kernel %q", name)
	default:
		return fmt.Errorf("%w: %d for kernel %q", launch.ErrArgs, len(args), name)
	}
}

// Exp, Log and Tanh are gomath.h's ports of Go's math.Exp, math.Log and
// math.Tanh, compiled as host C.
func Exp(x float64) float64  { return float64(C.emu_go_exp(C.double(x))) }
func Log(x float64) float64  { return float64(C.emu_go_log(C.double(x))) }
func Tanh(x float64) float64 { return float64(C.emu_go_tanh(C.double(x))) }

// MulAdd returns a·b + c as the kernels write it in float32, a product
// rounded before the add: a test that the host compiler did not fuse them.
func MulAdd(a, b, c float32) float32 {
	return float32(C.emu_mul_add(C.float(a), C.float(b), C.float(c)))
}
