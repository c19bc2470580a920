package bistro

import (
	"fmt"
	"testing"
)

// gptLayout is the tensor layout of a GPT-2-style model (tied embeddings).
func gptLayout(vocab, ctx, d, layers int) Layout {
	l := Layout{{Name: "wte", Shape: []int{vocab, d}}, {Name: "wpe", Shape: []int{ctx, d}}}
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("h.%d.", i)
		l = append(l,
			TensorSpec{Name: p + "ln_1.w", Shape: []int{d}}, TensorSpec{Name: p + "ln_1.b", Shape: []int{d}},
			TensorSpec{Name: p + "attn.c_attn.w", Shape: []int{d, 3 * d}}, TensorSpec{Name: p + "attn.c_attn.b", Shape: []int{3 * d}},
			TensorSpec{Name: p + "attn.c_proj.w", Shape: []int{d, d}}, TensorSpec{Name: p + "attn.c_proj.b", Shape: []int{d}},
			TensorSpec{Name: p + "ln_2.w", Shape: []int{d}}, TensorSpec{Name: p + "ln_2.b", Shape: []int{d}},
			TensorSpec{Name: p + "mlp.c_fc.w", Shape: []int{d, 4 * d}}, TensorSpec{Name: p + "mlp.c_fc.b", Shape: []int{4 * d}},
			TensorSpec{Name: p + "mlp.c_proj.w", Shape: []int{4 * d, d}}, TensorSpec{Name: p + "mlp.c_proj.b", Shape: []int{d}},
		)
	}
	return append(l, TensorSpec{Name: "ln_f.w", Shape: []int{d}}, TensorSpec{Name: "ln_f.b", Shape: []int{d}})
}

func TestGPTLayoutSizes(t *testing.T) {
	if n := gptLayout(50257, 1024, 768, 12).Len(); n != 124439808 {
		t.Fatalf("GPT-2 small has %d parameters, want 124439808", n)
	}
}

// BenchmarkSliceSelect selects slices of GPT-2 small (124M) and of a 1.2B
// model (d = 2048, 24 layers) at two fractions, with single elements and
// with runs of 64. It reports selected coordinates per second and, as the
// in-run baseline, the time to write the same number of uint32 indices
// sequentially (selection / baseline is the figure to compare).
func BenchmarkSliceSelect(b *testing.B) {
	models := []struct {
		name   string
		layout Layout
	}{
		{"124M", gptLayout(50257, 1024, 768, 12)},
		{"1B", gptLayout(50257, 2048, 2048, 24)},
	}
	for _, m := range models {
		for _, s := range []Slices{{0.01, 1}, {0.05, 1}, {0.05, 64}} {
			name := fmt.Sprintf("%s/f=%v/run=%d", m.name, s.Fraction, s.Run)
			var count int
			b.Run(name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					ix, err := s.Select(Hash{byte(i)}, m.layout)
					if err != nil {
						b.Fatal(err)
					}
					count = ix.Len()
				}
				b.ReportMetric(float64(count)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcoords/s")
				b.ReportMetric(float64(m.layout.Len())/1e6, "Mparams")
			})
			b.Run(name+"/baseline-fill", func(b *testing.B) {
				buf := make([]uint32, count)
				for i := 0; i < b.N; i++ {
					for j := range buf {
						buf[j] = uint32(j * 3)
					}
				}
				b.ReportMetric(float64(count)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcoords/s")
			})
		}
	}
}

// BenchmarkPagesAssign measures page assignment for one miner and window.
func BenchmarkPagesAssign(b *testing.B) {
	pa := Pages{NetUID: 3}
	for i := 0; i < b.N; i++ {
		if _, err := pa.Assign(uint64(i), Hotkey{1}, 16, 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}
