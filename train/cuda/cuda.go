//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train/internal/cuda/kernels"
	"github.com/bistro-go/bistro/train/internal/cuda/launch"
	"gorgonia.org/cu"
)

// blockSize is the threads of a block; kernels index a one-dimensional grid
// (kernels/emu.h), so it changes no result.
const blockSize = 256

// Device is one CUDA device with a context of its own and the kernels of
// package kernels loaded. A CUDA context is current on one OS thread: every
// driver call runs on a goroutine locked to the thread that created it.
// A Device is safe for concurrent use (its calls are serialised).
type Device struct {
	work    chan func()
	stopped chan struct{}
	name    string
	fns     map[string]cu.Function

	mu     sync.Mutex
	closed bool
}

var _ launch.Device = (*Device)(nil)

// modules are the PTX modules Open loads, with their kernels.
var modules = []struct {
	name    string
	ptx     []byte
	kernels []string
}{
	{"mlp.cu", kernels.MLP, kernels.MLPKernels},
	{"gpt.cu", kernels.GPT, kernels.GPTKernels},
}

// Open creates a context on the GPU of the given ordinal (0 is the first)
// and loads the kernels of both modules (the driver compiles their PTX for
// the GPU). Close releases it.
func Open(ordinal int) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("train/cuda: count devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("train/cuda: device %d: %d devices present", ordinal, n)
	}
	d := &Device{work: make(chan func()), stopped: make(chan struct{}), fns: map[string]cu.Function{}}
	ready := make(chan error, 1)
	go d.loop(ordinal, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// loop owns the context: it creates it on its locked thread, loads the
// module, runs the work sent to it, and destroys the context when work is
// closed.
func (d *Device) loop(ordinal int, ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(d.stopped)
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		ready <- fmt.Errorf("train/cuda: device %d: %w", ordinal, err)
		return
	}
	name, err := dev.Name()
	if err != nil {
		ready <- fmt.Errorf("train/cuda: device %d: name: %w", ordinal, err)
		return
	}
	d.name = name
	ctx, err := dev.MakeContext(cu.SchedBlockingSync)
	if err != nil {
		ready <- fmt.Errorf("train/cuda: %s: create context: %w", name, err)
		return
	}
	defer ctx.Destroy()
	for _, m := range modules {
		mod, err := cu.LoadData(string(m.ptx))
		if err != nil {
			ready <- fmt.Errorf("train/cuda: %s: load the PTX of %s: %w", name, m.name, err)
			return
		}
		defer mod.Unload()
		for _, k := range m.kernels {
			fn, err := mod.Function(k)
			if err != nil {
				ready <- fmt.Errorf("train/cuda: %s: kernel %s: %w", name, k, err)
				return
			}
			d.fns[k] = fn
		}
	}
	ready <- nil
	for f := range d.work {
		f()
	}
}

// Name is the GPU's name, as the driver reports it.
func (d *Device) Name() string { return d.name }

// Close destroys the context; the Device and the memory it allocated are
// unusable after it. Closing twice does nothing.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.work)
	<-d.stopped
	return nil
}

// errClosed is returned by the calls of a closed Device.
var errClosed = errors.New("train/cuda: device closed")

// do runs f on the context's thread and returns its error.
func (d *Device) do(f func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	errc := make(chan error, 1)
	d.work <- func() { errc <- f() }
	return <-errc
}

// Alloc returns n zeroed bytes of device memory.
func (d *Device) Alloc(n int) (launch.Ptr, error) {
	var p cu.DevicePtr
	err := d.do(func() error {
		var err error
		if p, err = cu.MemAlloc(int64(n)); err != nil {
			return err
		}
		return cu.MemsetD8(p, 0, int64(n))
	})
	return launch.Ptr(p), err
}

// Free releases an allocation of Alloc.
func (d *Device) Free(p launch.Ptr) error {
	return d.do(func() error { return cu.MemFree(cu.DevicePtr(p)) })
}

// Zero sets n bytes at p to zero.
func (d *Device) Zero(p launch.Ptr, n int) error {
	return d.do(func() error { return cu.MemsetD8(cu.DevicePtr(p), 0, int64(n)) })
}

// host returns the address and size in bytes of a []float32, []float64 or
// []int32.
func host(s any) (unsafe.Pointer, int64, error) {
	switch s := s.(type) {
	case []float32:
		return unsafe.Pointer(unsafe.SliceData(s)), 4 * int64(len(s)), nil
	case []float64:
		return unsafe.Pointer(unsafe.SliceData(s)), 8 * int64(len(s)), nil
	case []int32:
		return unsafe.Pointer(unsafe.SliceData(s)), 4 * int64(len(s)), nil
	}
	return nil, 0, fmt.Errorf("train/cuda: copy of a %T", s)
}

// CopyIn copies src to dst.
func (d *Device) CopyIn(dst launch.Ptr, src any) error {
	p, n, err := host(src)
	if err != nil || n == 0 {
		return err
	}
	defer runtime.KeepAlive(src)
	return d.do(func() error { return cu.MemcpyHtoD(cu.DevicePtr(dst), p, n) })
}

// CopyOut copies from src into dst.
func (d *Device) CopyOut(dst any, src launch.Ptr) error {
	p, n, err := host(dst)
	if err != nil || n == 0 {
		return err
	}
	defer runtime.KeepAlive(dst)
	return d.do(func() error { return cu.MemcpyDtoH(p, cu.DevicePtr(src), n) })
}

// Launch runs a kernel on ⌈threads/256⌉ blocks of 256 threads and waits for
// it; a kernel's error (or an earlier asynchronous one) is returned.
func (d *Device) Launch(name string, threads int, args ...any) error {
	fn, ok := d.fns[name]
	if !ok {
		return fmt.Errorf("train/cuda: no kernel %q", name)
	}
	if threads <= 0 {
		return nil
	}
	blocks := (threads + blockSize - 1) / blockSize
	if blocks > math.MaxInt32 {
		return fmt.Errorf("%w: %d threads", launch.ErrArgs, threads)
	}
	slots, err := kernelParams(args)
	if err != nil {
		return err
	}
	params := make([]unsafe.Pointer, len(slots))
	for i := range slots {
		params[i] = unsafe.Pointer(&slots[i])
	}
	return d.do(func() error {
		if err := fn.Launch(blocks, 1, 1, blockSize, 1, 1, 0, cu.NoStream, params); err != nil {
			return err
		}
		return cu.Synchronize()
	})
}

// NewMLP returns the trainer of mlp/v1 on dev: a bistro.Trainer whose Δ and
// loss are train.MLP's, bit for bit.
func NewMLP(dev *Device) (bistro.Trainer, error) {
	if dev == nil {
		return nil, errors.New("train/cuda: nil device")
	}
	tr, err := launch.NewMLP(dev)
	if err != nil {
		return nil, err
	}
	return tr, nil
}

// NewGPT returns the trainer of gpt2/v1 models of cfg on dev: a
// bistro.Trainer whose Δ and loss are train.GPT's, bit for bit.
func NewGPT(dev *Device, cfg bistro.ModelConfig) (bistro.Trainer, error) {
	if dev == nil {
		return nil, errors.New("train/cuda: nil device")
	}
	tr, err := launch.NewGPT(dev, cfg)
	if err != nil {
		return nil, err
	}
	return tr, nil
}
