package train_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
)

// gptFLOP is the floating-point work of an update on one sequence of n
// predictions: the forward pass's products (the linear layers, the tied
// head, and attention's scores and mixing, which our kernels compute over
// the whole n × n square) and twice as much for the backward pass.
func gptFLOP(cfg bistro.ModelConfig, n int) float64 {
	l, e, h, v, fn := float64(cfg.Layers), float64(cfg.Embed), float64(cfg.Hidden), float64(cfg.Vocab), float64(n)
	fwd := l*2*fn*e*(3*e+e+2*h) + 2*fn*e*v + l*4*fn*fn*e
	return 3 * fwd
}

// benchGPTUpdate times Update of cfg on pages at each GOMAXPROCS of procs,
// after one untimed update, and reports predicted tokens per second and
// GFLOP/s (gptFLOP), the figure to compare with BenchmarkMatMul's kernels.
func benchGPTUpdate(b *testing.B, cfg bistro.ModelConfig, pages [][]int32, procs []int) {
	m, err := train.InitGPT(cfg, seed)
	if err != nil {
		b.Fatal(err)
	}
	tokens := 0
	var flop float64
	for _, p := range pages {
		tokens += len(p) - 1
		for s := 0; s < len(p)-1; s += int(cfg.Context) {
			flop += gptFLOP(cfg, min(int(cfg.Context), len(p)-1-s))
		}
	}
	ctx := context.Background()
	for _, n := range procs {
		b.Run(fmt.Sprintf("procs=%d", n), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
			tr, err := train.NewGPT(cfg)
			if err != nil {
				b.Fatal(err)
			}
			// One untimed update first: it allocates the buffers that later
			// updates reuse, as llm.c allocates its own in its first step.
			if _, err := tr.Update(ctx, m, pages, 0.5, 1); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tr.Update(ctx, m, pages, 0.5, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGPTTinyUpdate times a full update of the byte-level preset
// (GPTTiny, 3.26 M parameters) on 4 Opticks pages at GOMAXPROCS 1 and 2: 4
// sequences of 64 predictions (B=4, T=64, the batch of llm.c's
// train_gpt2, which scripts/bench-train runs beside it) and of 128 (the
// whole context), computed on up to GOMAXPROCS goroutines.
func BenchmarkGPTTinyUpdate(b *testing.B) {
	cfg := train.GPTTiny()
	for _, t := range []int{64, 128} {
		b.Run(fmt.Sprintf("4x%d", t), func(b *testing.B) {
			benchGPTUpdate(b, cfg, opticsPages(b, t+1, 100, 4), []int{1, 2})
		})
	}
}

// BenchmarkGPT2SmallUpdate times one update of GPT-2 124M's shapes on 4
// pages of 65 tokens (4 sequences of 64 predictions, llm.c's B=4, T=64) at
// GOMAXPROCS 1 and 2. Each update takes seconds and the benchmark about
// 4 GB (θ, the float64 accumulator, Δ, and per goroutine a float32 gradient
// and the activations); run it alone:
//
//	go test -run '^$' -bench GPT2Small -benchtime 1x ./train/
func BenchmarkGPT2SmallUpdate(b *testing.B) {
	cfg := train.GPT2Small()
	pages := make([][]int32, 4)
	for p := range pages {
		pages[p] = make([]int32, 65)
		for i := range pages[p] {
			pages[p][i] = int32((i*7919 + p*104729 + 13) % int(cfg.Vocab))
		}
	}
	b.Run("4x64", func(b *testing.B) {
		benchGPTUpdate(b, cfg, pages, []int{1, 2})
	})
}
