// Command idleminer is the end-to-end test's miner that does no work: the
// shipped miner with a strategy that never trains and uploads zeros of the
// right shape, on time. It exists for tests only; the shipped binary has no
// such flag.
package main

import (
	"context"
	"os"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/operator"
)

// idle trains nothing and uploads zeros.
type idle struct{}

func (idle) Train(uint64) bool         { return false }
func (idle) UploadDelay(uint64) uint64 { return 0 }
func (idle) Slice(_ context.Context, f *bistro.File, idx bistro.Indices) error {
	f.Tensors = make([][]float32, len(idx))
	for t, ix := range idx {
		f.Tensors[t] = make([]float32, len(ix))
	}
	return nil
}

func main() {
	os.Exit(operator.Main(operator.Miner, os.Args[1:], func(ctx context.Context, n *operator.Node) error {
		return n.RunMiner(ctx, idle{})
	}))
}
