// Package cuda is the GPU trainer: bistro.Trainers whose Δ is the CPU
// trainers' of package train to the bit, computed by our own CUDA kernels
// (package train/internal/cuda/kernels: CUDA C compiled to PTX by scripts/ptx, the
// PTX committed and embedded) loaded through the CUDA driver API with
// gorgonia.org/cu. No cuBLAS, no cuDNN: only libcuda, which every NVIDIA
// driver installs.
//
// It needs the build tag cuda; the default build of this package has no
// GPU code, and Open returns ErrNotBuilt:
//
//	go build -tags cuda ./...   (cgo; cuda.h and libcuda to link: scripts/cuda-headers)
//
//	dev, err := cuda.Open(0)    // the first GPU
//	defer dev.Close()
//	tr, err := cuda.NewGPT(dev, train.GPTTiny()) // Δ as train.GPT's, bit for bit
//	delta, err := tr.Update(ctx, m, pages, 0.5, 1)
//
// # Determinism
//
// Every kernel computes each output element in exactly the order package
// train does (sums from zero in ascending index order, each product rounded
// before it is added, float64 where train uses float64, ports of Go's
// math.Exp, math.Log and math.Tanh), with one thread per output element and
// no reductions split across threads. The launch sequence
// (train/internal/cuda/launch) is shared with a host emulation
// (train/internal/cuda/hostemu) that compiles the same kernel sources as C;
// its tests check Δ and the loss against package train bit for bit on every
// machine, GPU or not. The GPU run of the same check is README.md's script.
//
// A gorgonia.org/cu program initialises the CUDA driver when it starts and
// exits if there is none: a binary built with the tag runs only where an
// NVIDIA driver is installed.
//
// NewMLP trains mlp/v1 and NewGPT gpt2/v1; README.md says what is verified
// where and what remains (issue 25).
package cuda

import "errors"

// ErrNotBuilt is returned by Open in a build without the cuda tag.
var ErrNotBuilt = errors.New("train/cuda: built without the cuda tag (go build -tags cuda; see scripts/cuda-headers)")
