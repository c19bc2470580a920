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

// GPT is the PTX of gpt.cu, the kernels of a gpt2/v1 update that mlp.cu
// does not have (it uses mlp.cu's cross-entropy, loss sums, mean, norm and
// Δ too).
//
//go:embed gpt.ptx
var GPT []byte

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
	MLPDelta         = "mlp_delta"
)

// The kernels of gpt.cu, by their PTX names.
const (
	GPTMatmulNN                = "gpt_matmul_nn"
	GPTMatmulNT                = "gpt_matmul_nt"
	GPTMatmulTN                = "gpt_matmul_tn"
	GPTAddBias                 = "gpt_add_bias"
	GPTAdd                     = "gpt_add"
	GPTBiasGrad                = "gpt_bias_grad"
	GPTEmbedForward            = "gpt_embed_forward"
	GPTEmbedBackward           = "gpt_embed_backward"
	GPTLayerNormForward        = "gpt_layernorm_forward"
	GPTLayerNormBackwardParams = "gpt_layernorm_backward_params"
	GPTLayerNormBackwardInput  = "gpt_layernorm_backward_input"
	GPTGeluForward             = "gpt_gelu_forward"
	GPTGeluBackward            = "gpt_gelu_backward"
	GPTCausalSoftmax           = "gpt_causal_softmax"
	GPTCausalSoftmaxBackward   = "gpt_causal_softmax_backward"
)

// MLPKernels and GPTKernels are the kernels of each module.
var (
	MLPKernels = []string{MLPEmbedForward, MLPLinearForward, MLPTanhForward, MLPCrossEntropy, MLPLossSum,
		MLPMatmulTN, MLPBiasGrad, MLPMatmulNT, MLPTanhBackward, MLPEmbedBackward, MLPAccumulate,
		MLPMean, MLPDelta}
	GPTKernels = []string{GPTMatmulNN, GPTMatmulNT, GPTMatmulTN, GPTAddBias, GPTAdd, GPTBiasGrad,
		GPTEmbedForward, GPTEmbedBackward, GPTLayerNormForward, GPTLayerNormBackwardParams,
		GPTLayerNormBackwardInput, GPTGeluForward, GPTGeluBackward, GPTCausalSoftmax,
		GPTCausalSoftmaxBackward}
)
