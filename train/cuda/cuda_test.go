//go:build cuda

package cuda_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/cuda"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/tokens"
	"github.com/stretchr/testify/require"
)

// These tests need a GPU: a binary importing gorgonia.org/cu exits at start
// without a driver. README.md has the script that builds them here and runs
// them on a GPU machine.

func open(t testing.TB) *cuda.Device {
	t.Helper()
	ordinal := 0
	if s := os.Getenv("BISTRO_CUDA_DEVICE"); s != "" {
		var err error
		ordinal, err = strconv.Atoi(s)
		require.NoError(t, err, "BISTRO_CUDA_DEVICE")
	}
	dev, err := cuda.Open(ordinal)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, dev.Close()) })
	return dev
}

func opticsPages(t testing.TB, l, first, n int) [][]int32 {
	t.Helper()
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: l})
	require.NoError(t, err)
	pages := make([][]int32, n)
	for i := range pages {
		pages[i], err = ds.Page(context.Background(), uint64(first+i), nil)
		require.NoError(t, err)
	}
	return pages
}

// digest hashes Δ's float32 bits in layout order, then the loss's float64
// bits (train.TestUpdateBits's digest).
func digest(t testing.TB, delta bistro.Tensors, loss float64) string {
	t.Helper()
	h := sha256.New()
	var buf [8]byte
	for i, spec := range delta.Layout() {
		idx := make([]uint32, spec.Len())
		for j := range idx {
			idx[j] = uint32(j)
		}
		v := make([]float32, len(idx))
		require.NoError(t, delta.Gather(i, idx, v))
		for _, x := range v {
			binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(x))
			h.Write(buf[:4])
		}
	}
	binary.LittleEndian.PutUint64(buf[:], math.Float64bits(loss))
	h.Write(buf[:])
	return hex.EncodeToString(h.Sum(nil))
}

// TestMLPUpdateBits is the GPU run of hostemu's TestMLPUpdateBits: the
// update and loss on the GPU give train's pinned digest for mlp/4x256, and
// the digest of train.MLP run in this same process for the others. It logs
// each digest and the GPU's tokens/s.
func TestMLPUpdateBits(t *testing.T) {
	dev := open(t)
	t.Logf("device %s", dev.Name())
	tr, err := cuda.NewMLP(dev)
	require.NoError(t, err)
	mlp, err := train.NewMLPConfig(256, 8, 16, 128)
	require.NoError(t, err)
	odd, err := train.NewMLPConfig(37, 3, 5, 7)
	require.NoError(t, err)
	ragged := append(opticsPages(t, 600, 10, 1), opticsPages(t, 65, 300, 1)[0], opticsPages(t, 9, 7000, 1)[0])
	mod := make([][]int32, len(ragged))
	for i, p := range ragged {
		mod[i] = make([]int32, len(p))
		for j, x := range p {
			mod[i][j] = x % 37
		}
	}
	cases := []struct {
		name     string
		cfg      bistro.ModelConfig
		pages    [][]int32
		lr, clip float64
		want     string // train.TestUpdateBits's pinned digest, if any
	}{
		{name: "mlp/4x256", cfg: mlp, pages: opticsPages(t, 256, 100, 4), lr: 0.5, clip: 1,
			want: "34d58f98ec4f5d3feae041cdb75a505661a17309ffbd9974a5a3080ee5c85821"},
		{name: "mlp/ragged/noclip", cfg: mlp, pages: ragged, lr: 0.1, clip: 1e9},
		{name: "odd/ragged", cfg: odd, pages: mod, lr: 0.5, clip: 0.01},
		{name: "mlp/64x1024", cfg: mlp, pages: opticsPages(t, 1024, 0, 64), lr: 0.5, clip: 1},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := train.InitMLP(c.cfg, bistro.Hash{1, 2, 3})
			require.NoError(t, err)
			start := time.Now()
			delta, err := tr.Update(ctx, m, c.pages, c.lr, c.clip)
			require.NoError(t, err)
			took := time.Since(start)
			loss, err := tr.Loss(ctx, m, c.pages)
			require.NoError(t, err)
			got := digest(t, delta, loss)
			tokens := 0
			for _, p := range c.pages {
				tokens += len(p) - int(c.cfg.Context)
			}
			t.Logf("gpu digest %s, update %v, %.0f tokens/s", got, took, float64(tokens)/took.Seconds())

			cpuStart := time.Now()
			wantDelta, err := train.MLP{}.Update(ctx, m, c.pages, c.lr, c.clip)
			require.NoError(t, err)
			cpuTook := time.Since(cpuStart)
			wantLoss, err := train.MLP{}.Loss(ctx, m, c.pages)
			require.NoError(t, err)
			want := digest(t, wantDelta, wantLoss)
			t.Logf("cpu digest %s, update %v, %.0f tokens/s", want, cpuTook, float64(tokens)/cpuTook.Seconds())
			require.Equal(t, want, got, "GPU and CPU bits differ")
			if c.want != "" {
				require.Equal(t, c.want, got, "train's pinned digest")
			}
		})
	}
}

// bpePages returns n pages of l GPT-2 BPE tokens of the Opticks text, from
// token first on.
func bpePages(t testing.TB, l, first, n int) [][]int32 {
	t.Helper()
	path, err := data.DefaultOpticsPath()
	require.NoError(t, err)
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	tok, err := tokens.NewGPT2()
	require.NoError(t, err)
	ids, err := tok.Encode(nil, text)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ids), first+l*n)
	pages := make([][]int32, n)
	for i := range pages {
		pages[i] = ids[first+i*l : first+(i+1)*l]
	}
	return pages
}

// TestGPTUpdateBits is the GPU run of hostemu's TestGPTUpdateBits, plus
// GPT2Small on BPE pages: each update and loss on the GPU equal train.GPT's
// run in this same process, and train.TestUpdateBits's pinned digests where
// there are some. It logs each digest and tokens/s on the GPU and the CPU.
func TestGPTUpdateBits(t *testing.T) {
	dev := open(t)
	t.Logf("device %s", dev.Name())
	odd, err := train.NewGPTConfig(37, 13, 24, 2, 3, 40)
	require.NoError(t, err)
	mod := func(pages [][]int32, v int32) [][]int32 {
		out := make([][]int32, len(pages))
		for i, p := range pages {
			out[i] = make([]int32, len(p))
			for j, x := range p {
				out[i][j] = x % v
			}
		}
		return out
	}
	ragged := append(opticsPages(t, 200, 10, 1), opticsPages(t, 65, 300, 1)[0], opticsPages(t, 2, 7000, 1)[0])
	cases := []struct {
		name  string
		cfg   bistro.ModelConfig
		pages [][]int32
		want  string
	}{
		{name: "odd/ragged", cfg: odd, pages: mod(append(opticsPages(t, 30, 5, 2), opticsPages(t, 7, 900, 1)[0]), 37),
			want: "06093b5d09adaa489214b17ad3ec64ede1a37a9c42974dd35e41f4b5dba2528a"},
		{name: "tiny/4x129", cfg: train.GPTTiny(), pages: opticsPages(t, 129, 100, 4),
			want: "f6d3795fb593787977d99f710893faad1a6c9221a90309fbead43ac11288df3a"},
		{name: "tiny/ragged", cfg: train.GPTTiny(), pages: ragged,
			want: "6538bb5958a208546a760552de5539a19890e575171309dd9e967b6a45fbc1c5"},
		{name: "gpt2small/4x65", cfg: train.GPT2Small(), pages: bpePages(t, 65, 0, 4)},
		{name: "gpt2small/1x1025", cfg: train.GPT2Small(), pages: bpePages(t, 1025, 1000, 1)},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gpu, err := cuda.NewGPT(dev, c.cfg)
			require.NoError(t, err)
			cpu, err := train.NewGPT(c.cfg)
			require.NoError(t, err)
			m, err := train.InitGPT(c.cfg, bistro.Hash{1, 2, 3})
			require.NoError(t, err)
			tokens := 0
			for _, p := range c.pages {
				tokens += len(p) - 1
			}
			run := func(tr bistro.Trainer, name string) string {
				start := time.Now()
				delta, err := tr.Update(ctx, m, c.pages, 0.5, 1)
				require.NoError(t, err)
				took := time.Since(start)
				loss, err := tr.Loss(ctx, m, c.pages)
				require.NoError(t, err)
				d := digest(t, delta, loss)
				t.Logf("%s digest %s, update %v, %.0f tokens/s", name, d, took, float64(tokens)/took.Seconds())
				return d
			}
			got := run(gpu, "gpu")
			want := run(cpu, "cpu")
			require.Equal(t, want, got, "GPU and CPU bits differ")
			if c.want != "" {
				require.Equal(t, c.want, got, "train's pinned digest")
			}
		})
	}
}
