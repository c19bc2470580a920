package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train/data"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/cpu"
)

// updateBitsCase is an update whose Δ bits and loss TestUpdateBits pins.
type updateBitsCase struct {
	name  string
	cfg   bistro.ModelConfig
	pages [][]int32
	gpt   bool   // train.GPT, else train.MLP
	want  string // SHA-256 of Δ's float32 bits, little-endian, then the loss's float64 bits
}

// updateBitsCases are both models at every size class the kernels treat
// differently (full and ragged register blocks, short and long sequences,
// one group of sequences and several, a vocabulary and widths that are no
// multiple of any vector width).
func updateBitsCases(t *testing.T) []updateBitsCase {
	t.Helper()
	optics := func(l, first, n int) [][]int32 {
		ds, err := data.OpenOptics(data.OpticsOptions{PageLength: l})
		require.NoError(t, err)
		pages := make([][]int32, n)
		for i := range pages {
			pages[i], err = ds.Page(context.Background(), uint64(first+i), nil)
			require.NoError(t, err)
		}
		return pages
	}
	odd, err := NewGPTConfig(37, 13, 24, 2, 3, 40)
	require.NoError(t, err)
	mlp, err := NewMLPConfig(256, 8, 16, 128)
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
	ragged := append(optics(200, 10, 1), optics(65, 300, 1)[0], optics(2, 7000, 1)[0])
	return []updateBitsCase{
		{name: "tiny/4x129", cfg: GPTTiny(), pages: optics(129, 100, 4), gpt: true,
			want: "f6d3795fb593787977d99f710893faad1a6c9221a90309fbead43ac11288df3a"},
		{name: "tiny/ragged", cfg: GPTTiny(), pages: ragged, gpt: true,
			want: "6538bb5958a208546a760552de5539a19890e575171309dd9e967b6a45fbc1c5"},
		{name: "odd/ragged", cfg: odd, pages: mod(append(optics(30, 5, 2), optics(7, 900, 1)[0]), 37), gpt: true,
			want: "06093b5d09adaa489214b17ad3ec64ede1a37a9c42974dd35e41f4b5dba2528a"},
		{name: "mlp/4x256", cfg: mlp, pages: optics(256, 100, 4),
			want: "34d58f98ec4f5d3feae041cdb75a505661a17309ffbd9974a5a3080ee5c85821"},
	}
}

// updateDigest hashes Δ's float32 bits in layout order and then the loss.
func updateDigest(t *testing.T, delta bistro.Tensors, loss float64) string {
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

// TestUpdateBits pins the bits of Δ and of the loss for a few updates of
// both models, as computed by the reference code (the naive loops of
// matmul.go's comment): every build (the default one with its assembly
// kernels, AVX2 and AVX-512 alike, -tags purego) must reproduce them, at
// GOMAXPROCS 1 and 2. The pinned digests hold on amd64 with FMA, where
// math.Exp takes its FMA path (math/exp_amd64.go); elsewhere the test
// checks only that GOMAXPROCS and the kernels do not change the bits.
func TestUpdateBits(t *testing.T) {
	defaultKernels(t)
	pinned := runtime.GOARCH == "amd64" && cpu.X86.HasAVX && cpu.X86.HasFMA
	for _, c := range updateBitsCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var first string
			for _, kern := range asmKernelChoices() {
				func() {
					defer func(old bool) { useAVX512 = old }(useAVX512)
					useAVX512 = kern.avx512
					got := updateDigests(t, c.cfg, c.pages, c.gpt)
					require.Equal(t, got[0], got[1], "%s: GOMAXPROCS changed the bits", kern.name)
					t.Logf("%s: digest %s", kern.name, got[0])
					if first == "" {
						first = got[0]
					}
					require.Equal(t, first, got[0], "%s: the kernels changed the bits", kern.name)
					if pinned {
						require.Equal(t, c.want, got[0], "%s: Δ or loss bits changed", kern.name)
					}
				}()
			}
		})
	}
}

// asmKernelChoices are the settings of useAVX512 this build and CPU can
// run: AVX2 and AVX-512 where the CPU has both, else the default alone.
func asmKernelChoices() []struct {
	name   string
	avx512 bool
} {
	type choice = struct {
		name   string
		avx512 bool
	}
	if !haveAVX512 {
		return []choice{{"default", false}}
	}
	return []choice{{"avx2", false}, {"avx512", true}}
}

// The openblas build's bits differ from the default build's but not with
// GOMAXPROCS either.
func TestUpdateBitsBLAS(t *testing.T) {
	if !useBLAS {
		t.Skip("not the openblas build")
	}
	for _, c := range updateBitsCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := updateDigests(t, c.cfg, c.pages, c.gpt)
			require.Equal(t, got[0], got[1], "GOMAXPROCS changed the bits")
		})
	}
}

// updateDigests returns the digests (updateDigest) of one update and loss
// at GOMAXPROCS 1 and 2.
func updateDigests(t *testing.T, cfg bistro.ModelConfig, pages [][]int32, gpt bool) []string {
	t.Helper()
	ctx := context.Background()
	var got []string
	for _, procs := range []int{1, 2} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			var delta bistro.Tensors
			var loss float64
			if gpt {
				tr, err := NewGPT(cfg)
				require.NoError(t, err)
				m, err := InitGPT(cfg, bistro.Hash{1, 2, 3})
				require.NoError(t, err)
				delta, err = tr.Update(ctx, m, pages, 0.5, 1)
				require.NoError(t, err)
				loss, err = tr.Loss(ctx, m, pages)
				require.NoError(t, err)
			} else {
				var tr MLP
				m, err := InitMLP(cfg, bistro.Hash{1, 2, 3})
				require.NoError(t, err)
				delta, err = tr.Update(ctx, m, pages, 0.5, 1)
				require.NoError(t, err)
				loss, err = tr.Loss(ctx, m, pages)
				require.NoError(t, err)
			}
			got = append(got, updateDigest(t, delta, loss))
		}()
	}
	return got
}
