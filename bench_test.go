package bistro

import (
	"fmt"
	"math"
	"testing"
	"time"
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

// benchSlice is a slice of GPT-2 small at f = 0.01 (1.24 M values, 5 MB).
func benchSlice(b *testing.B) (Params, Layout, Indices, *File, *Keypair) {
	p := testParams()
	layout := gptLayout(50257, 1024, 768, 12)
	idx, err := Slices{Fraction: 0.01, Run: 1}.Select(Hash{1}, layout)
	if err != nil {
		b.Fatal(err)
	}
	k, err := KeypairFromURI("//Alice")
	if err != nil {
		b.Fatal(err)
	}
	vals := make([][]float32, len(idx))
	r := NewRand(Hash{2})
	for t, ix := range idx {
		vals[t] = make([]float32, len(ix))
		for i := range vals[t] {
			vals[t][i] = float32(r.Below(1<<20)) / (1 << 30)
		}
	}
	f := &File{Kind: KindSlice, NetUID: p.NetUID, Window: 1, Params: p.Digest(), Seed: Hash{1}, Tensors: vals}
	return p, layout, idx, f, k
}

// benchCopy is the in-run baseline: copying n bytes.
func benchCopy(b *testing.B, n int) {
	src, dst := make([]byte, n), make([]byte, n)
	fillBytes(src) // a never-written buffer maps the zero page: its reads hit the cache
	copy(dst, src) // and the first copy would time dst's page faults
	b.SetBytes(int64(n))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(dst, src)
	}
}

// fillBytes writes a pattern into every page of b.
func fillBytes(b []byte) {
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
}

// BenchmarkFiles encodes (sign included) and decodes (checks and verify
// included) a 5 MB slice; GB/s beside a memory copy of the same size.
func BenchmarkFiles(b *testing.B) {
	p, layout, idx, f, k := benchSlice(b)
	enc, err := Encode(f, layout, k)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for i := 0; i < b.N; i++ {
			if _, err := Encode(f, layout, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		e := &Expect{Kind: KindSlice, Params: &p, Window: 1, Layout: layout, Indices: idx}
		for i := 0; i < b.N; i++ {
			if _, err := Decode(enc, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("memcpy-baseline", func(b *testing.B) { benchCopy(b, len(enc)) })
}

// BenchmarkScore compares two 5 MB slices with the default scorer.
func BenchmarkScore(b *testing.B) {
	_, _, _, f, _ := benchSlice(b)
	n := 0
	for _, v := range f.Tensors {
		n += 4 * len(v)
	}
	b.Run("passfail", func(b *testing.B) {
		b.SetBytes(int64(2 * n))
		for i := 0; i < b.N; i++ {
			DefaultPassFail().Score(f.Tensors, f.Tensors)
		}
	})
	b.Run("memcpy-baseline", func(b *testing.B) { benchCopy(b, 2*n) })
}

// BenchmarkAggregate merges 64 slices of 1 MB each (250 k values) with the
// default trimmed mean and the plain mean through MergeSlices (which also
// hashes every contribution and takes its norm); bytes are the input bytes.
// The merge/… sub-benchmarks time the lead's merge alone, as MergeStream runs
// it with Delta and Norm computed at decode time, for 64 and 256 inputs, with
// every scale 1 and with one contribution clipped (benchMerge); each times a
// copy of the same input bytes in the same run and reports the ratio of the
// two rates as x-memcpy (issue 24 asks for at least 0.25 on 2 cores).
func BenchmarkAggregate(b *testing.B) {
	const miners, values = 64, 250_000
	idx := Indices{make([]uint32, values)}
	cs := benchContributions(miners, values)
	trimmed := TrimmedMean{ClipFactor: 2, Trim: 0.2, MedianBelow: 5}
	for _, a := range []struct {
		name string
		agg  Aggregator
	}{{"trimmed-mean", trimmed}, {"mean", Mean{}}} {
		b.Run(a.name, func(b *testing.B) {
			b.SetBytes(miners * values * 4)
			for i := 0; i < b.N; i++ {
				if _, _, _, err := MergeSlices(a.agg, idx, cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("memcpy-baseline", func(b *testing.B) { benchCopy(b, miners*values*4) })
	for _, n := range []int{64, 256} {
		for _, clipped := range []bool{false, true} {
			name := fmt.Sprintf("merge/trimmed-mean/%d", n)
			if clipped {
				name = fmt.Sprintf("merge/trimmed-mean-clipped/%d", n)
			}
			b.Run(name, func(b *testing.B) { benchMerge(b, trimmed, n, values, clipped) })
		}
	}
}

// benchMerge times agg's merge of n contributions of m values through
// MergeStream, with Delta and Norm computed beforehand as the lead does at
// decode time. With clipped, one contribution's norm is ten times the others'
// (its scale is not 1), which keeps the trimmed mean off its unscaled
// kernels. It reports the merge's rate as a ratio to a copy of the same bytes
// (x-memcpy), the copy's rate and the CPU time per merge, all threads.
func benchMerge(b *testing.B, agg Aggregator, n, m int, clipped bool) {
	idx := Indices{make([]uint32, m)}
	cs := benchContributions(n, m)
	if clipped {
		for i := range cs[0].Values[0] {
			cs[0].Values[0][i] *= 10
		}
	}
	ss := make([]Streamed, n)
	for i, c := range cs {
		ss[i] = Streamed{UID: c.UID, Delta: DeltaHash(c.Values), Norm: Norm(c.Values), Values: c.Values}
	}
	copyTime := benchCopyTime(cs)
	emit := func(int, []float32) error { return nil }
	b.SetBytes(int64(n * m * 4))
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := MergeStream(agg, idx, ss, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perMerge := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(copyTime/perMerge, "x-memcpy")
	b.ReportMetric(float64(n*m*4)/copyTime/1e9, "memcpy-GB/s")
	// CPU time (all threads) per merge: on a shared machine, the figure
	// that other processes disturb least.
	b.ReportMetric((processCPU()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
}

// benchContributions returns n contributions of one tensor of m values in a
// gradient-like range, the same for every call.
func benchContributions(n, m int) []Contribution {
	cs := make([]Contribution, n)
	r := NewRand(Hash{3})
	for k := range cs {
		v := make([]float32, m)
		for i := range v {
			v[i] = float32(r.Below(1<<20)) / (1 << 30)
		}
		cs[k] = Contribution{UID: UID(k), Values: [][]float32{v}}
	}
	return cs
}

// benchCopyTime is the in-run memcpy baseline of a merge: the best of five
// copies of every contribution's values into a buffer of the same size, in
// seconds.
func benchCopyTime(cs []Contribution) float64 {
	dst := make([][]float32, len(cs))
	for i, c := range cs {
		dst[i] = make([]float32, len(c.Values[0]))
	}
	best := math.Inf(1)
	for range 5 {
		start := time.Now()
		for i, c := range cs {
			copy(dst[i], c.Values[0])
		}
		best = min(best, time.Since(start).Seconds())
	}
	return best
}
