// Package gpunode registers the GPU trainer as the operator's --device
// cuda: importing it makes a miner or validator built from operator train
// on the first CUDA device (build with -tags cuda; without the tag, or
// without a device, --device cuda fails at start with the reason: never a
// silent CPU fallback).
package gpunode

import (
	"fmt"
	"sync"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/operator"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/cuda"
)

var (
	once sync.Once
	dev  *cuda.Device
	err  error
)

func init() {
	operator.RegisterDevice("cuda", func(p *bistro.Params) (bistro.Trainer, error) {
		once.Do(func() { dev, err = cuda.Open(0) })
		if err != nil {
			return nil, err
		}
		switch p.Model.Arch {
		case train.MLPArch:
			return cuda.NewMLP(dev)
		case train.GPTArch:
			return cuda.NewGPT(dev, p.Model)
		}
		return nil, fmt.Errorf("model.arch %q has no GPU trainer", p.Model.Arch)
	})
}
