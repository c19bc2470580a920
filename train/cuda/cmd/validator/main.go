// Command validator is examples/validator with the GPU trainer: --device cuda
// trains on the first CUDA device, with the CPU trainer's bits. Build it in
// this module with the cuda tag (CUDA headers: scripts/cuda-headers):
//
//	cd train/cuda && go build -tags cuda ./cmd/validator
package main

import (
	"context"
	"os"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/operator"
	_ "github.com/bistro-go/bistro/train/cuda/gpunode"
)

func main() {
	os.Exit(operator.Main(operator.Validator, os.Args[1:], func(ctx context.Context, n *operator.Node) error {
		return n.RunValidator(ctx, bistro.ValidatorOptions{})
	}))
}
