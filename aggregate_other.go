//go:build !amd64 || purego

package bistro

// This build has no vector kernel: the trimmed mean runs the portable code.
var mergeKernel *vectorKernel

func vectorKernels() []*vectorKernel { return nil }
