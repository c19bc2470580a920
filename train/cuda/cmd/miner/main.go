// Command miner is examples/miner with the GPU trainer: --device cuda
// trains on the first CUDA device, with the CPU trainer's bits. Build it in
// this module with the cuda tag (CUDA headers: scripts/cuda-headers):
//
//	cd train/cuda && go build -tags cuda ./cmd/miner
package main

import (
	"context"
	"os"

	"github.com/bistro-go/bistro/operator"
	_ "github.com/bistro-go/bistro/train/cuda/gpunode"
)

func main() {
	os.Exit(operator.Main(operator.Miner, os.Args[1:], func(ctx context.Context, n *operator.Node) error {
		return n.RunMiner(ctx, nil)
	}))
}
