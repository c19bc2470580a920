package train_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro/train"
)

// BenchmarkUpdate times one training step, Update on 4 pages of 256 tokens
// with Context 8, Embed 16, Hidden 128 (53,632 parameters), at GOMAXPROCS 1
// and 2, and reports predicted tokens per second. The 4 pages make 4
// micro-batches, computed on up to GOMAXPROCS goroutines.
func BenchmarkUpdate(b *testing.B) {
	cfg := config(b, 8, 16, 128)
	m, err := train.InitMLP(cfg, seed)
	if err != nil {
		b.Fatal(err)
	}
	pages := opticsPages(b, 256, 100, 4)
	tokens := 0
	for _, p := range pages {
		tokens += len(p) - int(cfg.Context)
	}
	ctx := context.Background()
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			var tr train.MLP
			for b.Loop() {
				if _, err := tr.Update(ctx, m, pages, 0.5, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
