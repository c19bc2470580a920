package bistro_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/dir"
)

// scaleLayout is a GPT-2-style layout (tied embeddings), as gptLayout in
// bench_test.go.
func scaleLayout(vocab, ctx, d, layers int) bistro.Layout {
	l := bistro.Layout{{Name: "wte", Shape: []int{vocab, d}}, {Name: "wpe", Shape: []int{ctx, d}}}
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("h.%d.", i)
		for _, s := range []struct {
			n     string
			shape []int
		}{{"ln_1.w", []int{d}}, {"ln_1.b", []int{d}}, {"attn.c_attn.w", []int{d, 3 * d}}, {"attn.c_attn.b", []int{3 * d}},
			{"attn.c_proj.w", []int{d, d}}, {"attn.c_proj.b", []int{d}}, {"ln_2.w", []int{d}}, {"ln_2.b", []int{d}},
			{"mlp.c_fc.w", []int{d, 4 * d}}, {"mlp.c_fc.b", []int{4 * d}}, {"mlp.c_proj.w", []int{4 * d, d}}, {"mlp.c_proj.b", []int{d}}} {
			l = append(l, bistro.TensorSpec{Name: p + s.n, Shape: s.shape})
		}
	}
	return append(l, bistro.TensorSpec{Name: "ln_f.w", Shape: []int{d}}, bistro.TensorSpec{Name: "ln_f.b", Shape: []int{d}})
}

// BenchmarkScaleWindow is the lead's window at subnet scale: n miners'
// synthetic slices (f = 0.01) of a real layout sit in a local bucket
// (storage/dir); the lead fetches each, decodes and checks it (signature,
// digests, finiteness, shapes: DecodeDigests, which gives the payload hash
// and the values' digest on the way), takes its norm and lets the decoded
// values go (pass 1); recomputes nothing but scores a sample of 4
// against a reference; merges tensor by tensor with MergeStream, reading
// each slice's tensor from the local copy (pass 2); encodes and signs the
// aggregate and publishes it to its bucket; then applies it to a dense model.
//
// Reported per stage: seconds and bytes/s as a ratio to a memcpy
// (one slice's size, as BenchmarkFiles; and a copy of 256 MiB, out of every
// cache) measured in the same run, decode's also to one core's SHA-256: decode's
// per CPU-second of its workers, pass 1's and the merge's per wall second
// on all cores; the whole window (fetch → publish); the peak
// resident memory of that window (VmHWM, reset first) and the peak Go heap
// (runtime/metrics, sampled). Apply's model (θ, 0.5 or 5 GB) is outside the
// window and outside the peak.
//
//	go test -run x -bench ScaleWindow -benchtime 1x -timeout 60m .
//
// The 1.3B × 256 case writes 13 GB of slices under the test's temp dir.
func BenchmarkScaleWindow(b *testing.B) {
	models := []struct {
		name   string
		layout bistro.Layout
	}{
		{"124M", scaleLayout(50257, 1024, 768, 12)},
		{"1.3B", scaleLayout(50257, 2048, 2048, 24)},
	}
	for _, m := range models {
		for _, miners := range []int{64, 256} {
			b.Run(fmt.Sprintf("%s/miners=%d", m.name, miners), func(b *testing.B) {
				benchScaleWindow(b, m.layout, miners)
			})
		}
	}
}

func benchScaleWindow(b *testing.B, layout bistro.Layout, miners int) {
	ctx := context.Background()
	p := bistro.DefaultParams(3)
	const window = 5
	seed := bistro.Hash{9}
	idx, err := bistro.Slices{Fraction: 0.01, Run: 1}.Select(seed, layout)
	if err != nil {
		b.Fatal(err)
	}
	bucket, err := dir.New(filepath.Join(b.TempDir(), "miners"))
	if err != nil {
		b.Fatal(err)
	}
	leadBucket, err := dir.New(filepath.Join(b.TempDir(), "lead"))
	if err != nil {
		b.Fatal(err)
	}
	lead, err := bistro.KeypairFromURI("//lead")
	if err != nil {
		b.Fatal(err)
	}
	keys := writeScaleSlices(b, ctx, bucket, &p, layout, idx, window, seed, miners)
	sliceValues := idx.Len()
	sliceBytes := int64(4 * sliceValues)
	offsets := make([]int64, len(idx)) // byte offset of tensor t in a slice's data section
	for t := 1; t < len(idx); t++ {
		offsets[t] = offsets[t-1] + 4*int64(len(idx[t-1]))
	}
	memcpy := memcpyRate(int(sliceBytes))
	dram := memcpyRate(256 << 20) // out of every cache: the rate a stage moving GBs can hope for
	sha := sha256Rate(int(sliceBytes))
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		runtime.GC()
		resetPeakRSS()
		peakHeap := sampleHeap()
		st := map[string]time.Duration{}
		var mu sync.Mutex
		add := func(k string, d time.Duration) { mu.Lock(); st[k] += d; mu.Unlock() }
		start := time.Now()

		// Pass 1: fetch, decode and check, norm and Δ digest; keep the
		// sample's values for scoring, let the others go.
		e := &bistro.Expect{Kind: bistro.KindSlice, Params: &p, Window: window, Layout: layout, Indices: idx, Seed: &seed}
		streamed := make([]bistro.Streamed, miners)
		dataStart := make([]int64, miners)
		sample := map[int][][]float32{0: nil, 1: nil, 2: nil, 3: nil}
		var fetched atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(runtime.GOMAXPROCS(0))
		for i := range miners {
			g.Go(func() error {
				t0 := time.Now()
				raw, err := bucket.Get(gctx, keys[i], e.MaxFileBytes())
				if err != nil {
					return err
				}
				fetched.Add(int64(len(raw)))
				t1 := time.Now()
				f, payload, values, err := bistro.DecodeDigests(raw, e)
				if err != nil {
					return err
				}
				t2 := time.Now()
				streamed[i] = bistro.Streamed{UID: bistro.UID(i), Hotkey: f.Hotkey, Payload: payload,
					Delta: values, Norm: bistro.Norm(f.Tensors)}
				dataStart[i] = 8 + int64(binary.LittleEndian.Uint64(raw))
				t3 := time.Now()
				if _, ok := sample[i]; ok {
					mu.Lock()
					sample[i] = f.Tensors
					mu.Unlock()
				}
				add("fetch", t1.Sub(t0))
				add("decode", t2.Sub(t1))
				add("digests", t3.Sub(t2))
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		pass1 := time.Since(start)

		// Score the sample against a reference Δ (the validator's own
		// recomputation stands here; its cost is the trainer's, not this).
		t0 := time.Now()
		for i := 1; i < 4; i++ {
			bistro.DefaultPassFail().Score(sample[i], sample[0])
		}
		st["score"] = time.Since(t0)
		clear(sample)

		// Pass 2: merge tensor by tensor, each slice's tensor read from the
		// local copy (a lead with a remote bucket spools its verified copy in
		// pass 1; reading it back is this).
		files := make([]*os.File, miners)
		for i := range miners {
			if files[i], err = os.Open(filepath.Join(bucket.Root(), filepath.FromSlash(keys[i]))); err != nil {
				b.Fatal(err)
			}
			streamed[i].Read = func(t int, dst []float32) error {
				buf := unsafeBytes(dst)
				_, err := files[i].ReadAt(buf, dataStart[i]+offsets[t])
				return err
			}
		}
		agg := &bistro.File{Kind: bistro.KindAggregate, NetUID: p.NetUID, Window: window, Params: p.Digest(), Seed: seed,
			Tensors: make([][]float32, len(idx))}
		t0 = time.Now()
		a, err := bistro.NewAggregator(&p)
		if err != nil {
			b.Fatal(err)
		}
		manifest, _, err := bistro.MergeStream(a, idx, streamed, func(t int, merged []float32) error {
			agg.Tensors[t] = append([]float32(nil), merged...)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		st["merge"] = time.Since(t0)
		for _, f := range files {
			f.Close()
		}
		agg.Manifest = manifest

		// Encode, sign, publish.
		t0 = time.Now()
		enc, err := bistro.Encode(agg, layout, lead)
		if err != nil {
			b.Fatal(err)
		}
		st["encode"] = time.Since(t0)
		t0 = time.Now()
		if err := leadBucket.Put(ctx, bistro.AggregateKey(p.NetUID, window), bytes.NewReader(enc), int64(len(enc))); err != nil {
			b.Fatal(err)
		}
		st["publish"] = time.Since(t0)
		total := time.Since(start)
		rss := peakRSS()
		heap := peakHeap()

		// Apply (outside the window's peak: the model is the node's anyway).
		theta := make([][]float32, len(layout))
		for t, s := range layout {
			theta[t] = make([]float32, s.Len())
			for j := range theta[t] {
				theta[t][j] = 1 // touch every page before the clock starts
			}
		}
		t0 = time.Now()
		for t, ix := range idx {
			d := agg.Tensors[t]
			for k, j := range ix {
				theta[t][j] += d[k]
			}
		}
		st["apply"] = time.Since(t0)
		theta = nil

		all := float64(fetched.Load())
		input := float64(miners) * float64(sliceBytes)
		rate := func(bytes float64, d time.Duration) float64 { return bytes / d.Seconds() / memcpy }
		b.ReportMetric(total.Seconds(), "window-s")
		b.ReportMetric(pass1.Seconds(), "pass1-s")
		b.ReportMetric(st["fetch"].Seconds(), "fetch-cpu-s")
		b.ReportMetric(st["decode"].Seconds(), "decode-cpu-s")
		b.ReportMetric(st["digests"].Seconds(), "norm-cpu-s")
		b.ReportMetric(st["score"].Seconds(), "score3-s")
		b.ReportMetric(st["merge"].Seconds(), "merge-s")
		b.ReportMetric(st["encode"].Seconds(), "encode-s")
		b.ReportMetric(st["publish"].Seconds(), "publish-s")
		b.ReportMetric(st["apply"].Seconds(), "apply-s")
		// Per-core decode rate (CPU seconds summed over workers) and the merge's
		// wall rate, both as a ratio to one core's memcpy.
		b.ReportMetric(rate(all, st["decode"]), "decode/memcpy")
		b.ReportMetric(rate(all, pass1), "pass1/memcpy")
		b.ReportMetric(rate(input, st["merge"]), "merge/memcpy")
		b.ReportMetric(memcpy/1e9, "memcpy-GB/s")
		// The same rates against a copy too large for any cache, and decode's
		// against SHA-256 of the same bytes on one core: every byte of a slice
		// is hashed once (its payload hash), which bounds decode per core.
		b.ReportMetric(rate(all, st["decode"])*memcpy/dram, "decode/memcpy-dram")
		b.ReportMetric(rate(input, st["merge"])*memcpy/dram, "merge/memcpy-dram")
		b.ReportMetric(rate(all, st["decode"])*memcpy/sha, "decode/sha256")
		b.ReportMetric(dram/1e9, "memcpy-dram-GB/s")
		b.ReportMetric(sha/1e9, "sha256-GB/s")
		b.ReportMetric(all/1e9, "fetched-GB")
		b.ReportMetric(float64(rss)/(1<<20), "peakRSS-MiB")
		b.ReportMetric(float64(heap)/(1<<20), "peakHeap-MiB")
		b.Logf("%d miners × %d values (%.1f MB/slice): window %.1fs = pass1 %.1fs (fetch %.1f, decode %.1f, norm %.1f cpu-s) + score %.2fs + merge %.1fs + encode %.2fs + publish %.2fs; apply %.2fs; peak RSS %d MiB, heap %d MiB; memcpy %.1f GB/s (%.1f out of cache), SHA-256 %.2f GB/s",
			miners, sliceValues, float64(sliceBytes)/1e6, total.Seconds(), pass1.Seconds(), st["fetch"].Seconds(), st["decode"].Seconds(), st["digests"].Seconds(),
			st["score"].Seconds(), st["merge"].Seconds(), st["encode"].Seconds(), st["publish"].Seconds(), st["apply"].Seconds(), rss>>20, heap>>20, memcpy/1e9, dram/1e9, sha/1e9)
	}
}

// writeScaleSlices writes miners signed slices (synthetic Δ of gradient-like
// size, each miner its own) to bucket and returns their keys.
func writeScaleSlices(b *testing.B, ctx context.Context, bucket *dir.Store, p *bistro.Params, layout bistro.Layout, idx bistro.Indices, window uint64, seed bistro.Hash, miners int) []string {
	keys := make([]string, miners)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range miners {
		g.Go(func() error {
			k, err := bistro.KeypairFromURI("//miner" + strconv.Itoa(i))
			if err != nil {
				return err
			}
			x := uint64(i)*0x9e3779b97f4a7c15 + 1
			vals := make([][]float32, len(idx))
			for t, ix := range idx {
				vals[t] = make([]float32, len(ix))
				for j := range vals[t] {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					// a shared direction plus this miner's noise, ~1e-3
					vals[t][j] = float32(float64(j%7-3)*1e-3 + float64(int64(x>>40)-1<<23)*1e-10)
				}
			}
			f := &bistro.File{Kind: bistro.KindSlice, NetUID: p.NetUID, Window: window, Params: p.Digest(), Seed: seed, Tensors: vals}
			enc, err := bistro.Encode(f, layout, k)
			if err != nil {
				return err
			}
			keys[i] = bistro.SliceKey(p.NetUID, window, k.Hotkey())
			return bucket.Put(gctx, keys[i], bytes.NewReader(enc), int64(len(enc)))
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return keys
}

// memcpyRate measures one core's copy of n bytes (one slice, as
// BenchmarkFiles' baseline), in bytes/s: the median of 9.
func memcpyRate(n int) float64 {
	src, dst := make([]byte, n), make([]byte, n)
	fillPattern(src) // a never-written buffer maps the zero page: its reads hit the cache
	copy(dst, src)
	var ds []time.Duration
	for range 9 {
		t0 := time.Now()
		copy(dst, src)
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return float64(n) / ds[len(ds)/2].Seconds()
}

// sha256Rate measures one core's SHA-256 of n bytes, in bytes/s: the median
// of 9.
func sha256Rate(n int) float64 {
	src := make([]byte, n)
	fillPattern(src)
	sha256.Sum256(src)
	var ds []time.Duration
	for range 9 {
		t0 := time.Now()
		sha256.Sum256(src)
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return float64(n) / ds[len(ds)/2].Seconds()
}

// resetPeakRSS resets the kernel's peak resident set (VmHWM) of this
// process (Linux; elsewhere peakRSS reports 0).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sampleHeap samples the Go heap's live objects every 5 ms until the
// returned function is called, which stops it and returns the peak.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// fillPattern writes a pattern into every page of b.
func fillPattern(b []byte) {
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
}
