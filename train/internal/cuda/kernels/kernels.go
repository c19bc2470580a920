// Package kernels holds the CUDA C sources of train/cuda's kernels and the
// PTX that scripts/ptx compiles from them (nvcc -arch=compute_90 --fmad=false),
// both embedded: the tagged package train/cuda loads PTX through the driver,
// and package train/internal/cuda/hostemu compiles the same sources as host C
// (see emu.h) to check their arithmetic against package train without a
// GPU. It imports nothing and builds everywhere.
//
// The PTX is committed, not built at build time, so that neither a Go build
// nor a GPU machine needs nvcc; `scripts/ptx --check` rebuilds it and
// requires the committed files to match.
package kernels

import "embed"

// Sources are the CUDA C sources (*.cu) and the headers they include (*.h),
// by file name. Package hostemu depends on this package so that the go
// command rebuilds it whenever a source changes: cgo compiles sources it
// includes from another directory without tracking them.
//
//go:embed *.cu *.h sources.sha256
var Sources embed.FS

// MLP is the PTX of mlp.cu, the kernels of an mlp/v1 update.
//
//go:embed mlp.ptx
var MLP []byte

// The kernels of mlp.cu, by their PTX names.
const (
	MLPEmbedForward  = "mlp_embed_forward"
	MLPLinearForward = "mlp_linear_forward"
	MLPTanhForward   = "mlp_tanh_forward"
	MLPCrossEntropy  = "mlp_cross_entropy"
	MLPLossSum       = "mlp_loss_sum"
	MLPMatmulTN      = "mlp_matmul_tn"
	MLPBiasGrad      = "mlp_bias_grad"
	MLPMatmulNT      = "mlp_matmul_nt"
	MLPTanhBackward  = "mlp_tanh_backward"
	MLPEmbedBackward = "mlp_embed_backward"
	MLPAccumulate    = "mlp_accumulate"
	MLPMean          = "mlp_mean"
	MLPSumSquares    = "mlp_sum_squares"
	MLPDelta         = "mlp_delta"
)
