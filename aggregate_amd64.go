//go:build !purego

package bistro

//go:generate go run aggregate_gen.go

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The vector kernels of the trimmed mean (aggregate_vector.go), in
// aggregate_amd64.s. AVX-512F needs the OS to save the ZMM state, which
// x/sys/cpu checks.
var (
	kernelAVX512 = &vectorKernel{name: "AVX-512 x8", lanes: 8, group: 16, rowBytes: 64, run: trimBlocksAVX512,
		unscaled: &vectorKernel{name: "AVX-512 x16", lanes: 16, group: 16, rowBytes: 64, run: trimBlocks32AVX512},
		mixed:    &vectorKernel{name: "AVX-512 x16 mixed", lanes: 16, group: 16, rowBytes: 64, run: trimBlocksMixAVX512}}
	kernelAVX2 = &vectorKernel{name: "AVX2 x4", lanes: 4, group: 8, rowBytes: 32, run: trimBlocksAVX2,
		unscaled: &vectorKernel{name: "AVX2 x8", lanes: 8, group: 8, rowBytes: 32, run: trimBlocks32AVX2},
		mixed:    &vectorKernel{name: "AVX2 x8 mixed", lanes: 8, group: 8, rowBytes: 32, run: trimBlocksMixAVX2}}
)

// vectorKernels returns the vector kernels this CPU runs, best first.
func vectorKernels() []*vectorKernel {
	var ks []*vectorKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 {
		ks = append(ks, kernelAVX512)
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, kernelAVX2)
	}
	return ks
}

// mergeKernel is the vector kernel TrimmedMean.Merge uses (nil: the
// portable code). BISTRO_NO_AVX512, set to anything but "" or "0" when the
// process starts, keeps the AVX2 kernel, as in package train. Every kernel
// gives the same bits; the tests run each.
var mergeKernel = chooseMergeKernel(os.Getenv("BISTRO_NO_AVX512"))

func chooseMergeKernel(noAVX512 string) *vectorKernel {
	for _, k := range vectorKernels() {
		if k == kernelAVX512 && noAVX512 != "" && noAVX512 != "0" {
			continue
		}
		return k
	}
	return nil
}

//go:noescape
func trimBlocksAVX512(a *trimArgs) int

//go:noescape
func trimBlocksAVX2(a *trimArgs) int

//go:noescape
func trimBlocks32AVX512(a *trimArgs) int

//go:noescape
func trimBlocks32AVX2(a *trimArgs) int

//go:noescape
func trimBlocksMixAVX512(a *trimArgs) int

//go:noescape
func trimBlocksMixAVX2(a *trimArgs) int
