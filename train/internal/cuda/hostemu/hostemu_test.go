//go:build cgo

package hostemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/internal/cuda/hostemu"
	"github.com/bistro-go/bistro/train/internal/cuda/launch"
	"github.com/bistro-go/bistro/train/trainertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/cpu"
)

// pinned reports whether this machine computes math.Exp the way gomath.h
// ports it (amd64's FMA path) and so gives train's pinned bits; elsewhere
// the bit comparisons with package train are skipped.
func pinned(t *testing.T) {
	t.Helper()
	if !(runtime.GOARCH == "amd64" && cpu.X86.HasAVX && cpu.X86.HasFMA) {
		t.Skip("gomath.h ports math.Exp's amd64 FMA path; this machine's math.Exp takes another")
	}
}

// defaultBuild skips a bit test in the openblas build: the emulation's
// results do not depend on build tags (the default build's run checks
// them), and package train is not the reference there.
func defaultBuild(t *testing.T) {
	t.Helper()
	if !trainIsReference {
		t.Skip("openblas build: package train is not the reference, and the emulation is the default build's")
	}
}

// The ports of Go's math give math's bits: on the arguments the trainers
// meet (softmax exps of x ≤ 0, tanh of pre-activations), the boundaries of
// each branch, and random bit patterns.
func TestGoMath(t *testing.T) {
	pinned(t)
	var xs []float64
	for i := range 4001 {
		u := float64(i)/2000 - 1 // −1 … 1
		xs = append(xs, u*0.7, u*5, u*50, u*800, -math.Abs(u)*40)
	}
	xs = append(xs, 0, math.Copysign(0, -1), 0.625, -0.625, 0.6249999999999999,
		44.014845965556525, 44.01484596555653, -44.01484596555653,
		709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412,
		-708.3964185322641, -1e300, 1e-300, 5e-324, math.Inf(1), math.Inf(-1), math.NaN(),
		math.SmallestNonzeroFloat64, math.MaxFloat64, 1, 2, math.Sqrt2/2, 0.7071067811865476)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		xs = append(xs, math.Float64frombits(r.Uint64()))
	}
	same := func(name string, got, want, x float64) {
		if math.IsNaN(want) && math.IsNaN(got) {
			return
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s(%v = %#x) = %v (%#x), Go says %v (%#x)", name, x, math.Float64bits(x),
				got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
	for _, x := range xs {
		same("exp", hostemu.Exp(x), math.Exp(x), x)
		same("tanh", hostemu.Tanh(x), math.Tanh(x), x)
		same("log", hostemu.Log(math.Abs(x)), math.Log(math.Abs(x)), math.Abs(x))
		same("log", hostemu.Log(x), math.Log(x), x)
	}
}

// The host compiler keeps a product and a sum apart, as nvcc does with
// __fmul_rn and __fadd_rn: (1+2⁻¹²)² − (1+2⁻¹¹) is 0 rounded, 2⁻²⁴ fused.
func TestNoFusedMultiplyAdd(t *testing.T) {
	a := float32(1 + 1.0/(1<<12))
	c := -float32(1 + 1.0/(1<<11))
	assert.Equal(t, float32(0), hostemu.MulAdd(a, a, c))
}

func opticsPages(t *testing.T, l, first, n int) [][]int32 {
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

// digest hashes Δ's float32 bits in layout order and then the loss's
// float64 bits, as train's TestUpdateBits does.
func digest(t *testing.T, delta bistro.Tensors, loss float64) string {
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

// update returns the digest of one update and the loss of tr, and Δ, from
// the model that train.TestUpdateBits starts from.
func update(t *testing.T, tr bistro.Trainer, cfg bistro.ModelConfig, pages [][]int32, lr, clip float64) (string, bistro.Tensors) {
	t.Helper()
	ctx := context.Background()
	var m bistro.Model
	var err error
	if cfg.Arch == train.GPTArch {
		m, err = train.InitGPT(cfg, bistro.Hash{1, 2, 3})
	} else {
		m, err = train.InitMLP(cfg, bistro.Hash{1, 2, 3})
	}
	require.NoError(t, err)
	delta, err := tr.Update(ctx, m, pages, lr, clip)
	require.NoError(t, err)
	loss, err := tr.Loss(ctx, m, pages)
	require.NoError(t, err)
	return digest(t, delta, loss), delta
}

// The whole mlp/v1 update of package launch, run by the kernels of mlp.cu on
// the emulated grid, gives train.MLP's Δ and loss to the bit: on
// train.TestUpdateBits's pinned case (mlp/4x256, whose digest it must also
// reproduce), on ragged pages (micro-batches of every length, a page shorter
// than one), on sizes that are multiples of nothing, and with and without
// clipping.
func TestMLPUpdateBits(t *testing.T) {
	pinned(t)
	defaultBuild(t)
	mlp, err := train.NewMLPConfig(256, 8, 16, 128)
	require.NoError(t, err)
	odd, err := train.NewMLPConfig(37, 3, 5, 7)
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
	ragged := append(opticsPages(t, 600, 10, 1), opticsPages(t, 65, 300, 1)[0], opticsPages(t, 9, 7000, 1)[0])
	cases := []struct {
		name     string
		cfg      bistro.ModelConfig
		pages    [][]int32
		lr, clip float64
		want     string // the digest train.TestUpdateBits pins, if any
	}{
		{name: "mlp/4x256", cfg: mlp, pages: opticsPages(t, 256, 100, 4), lr: 0.5, clip: 1,
			want: "34d58f98ec4f5d3feae041cdb75a505661a17309ffbd9974a5a3080ee5c85821"},
		{name: "mlp/ragged/noclip", cfg: mlp, pages: ragged, lr: 0.1, clip: 1e9},
		{name: "odd/ragged", cfg: odd, pages: mod(ragged, 37), lr: 0.5, clip: 0.01},
	}
	emu, err := launch.NewMLP(&hostemu.Device{})
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compare(t, emu, train.MLP{}, c.cfg, c.pages, c.lr, c.clip, c.want)
		})
	}
}

// compare runs one update and loss on the emulated trainer emu, requires
// the pinned digest want (when not empty), and where package train is the
// reference, its bits, naming the first element that differs.
func compare(t *testing.T, emu, ref bistro.Trainer, cfg bistro.ModelConfig, pages [][]int32, lr, clip float64, want string) {
	t.Helper()
	got, gotDelta := update(t, emu, cfg, pages, lr, clip)
	t.Logf("digest %s", got)
	if want != "" {
		require.Equal(t, want, got, "train's pinned digest")
	}
	wantDigest, wantDelta := update(t, ref, cfg, pages, lr, clip)
	if got == wantDigest {
		return
	}
	for i, spec := range wantDelta.Layout() {
		w, g := make([]float32, spec.Len()), make([]float32, spec.Len())
		idx := make([]uint32, spec.Len())
		for j := range idx {
			idx[j] = uint32(j)
		}
		require.NoError(t, wantDelta.Gather(i, idx, w))
		require.NoError(t, gotDelta.Gather(i, idx, g))
		for j := range w {
			if math.Float32bits(w[j]) != math.Float32bits(g[j]) {
				t.Fatalf("Δ[%s][%d] = %v, train says %v", spec.Name, j, g[j], w[j])
			}
		}
	}
	t.Fatalf("Δ equal, loss differs: digest %s, train's %s", got, wantDigest)
}

// The whole gpt2/v1 update of package launch on the emulated grid gives
// train.GPT's Δ and loss to the bit: train.TestUpdateBits's three GPT cases
// (GPTTiny on full and ragged pages, odd sizes), whose pinned digests it
// reproduces.
func TestGPTUpdateBits(t *testing.T) {
	pinned(t)
	defaultBuild(t)
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each on a Device of its own
			emu, err := launch.NewGPT(&hostemu.Device{}, c.cfg)
			require.NoError(t, err)
			ref, err := train.NewGPT(c.cfg)
			require.NoError(t, err)
			compare(t, emu, ref, c.cfg, c.pages, 0.5, 1, c.want)
		})
	}
}

// launch.MLP on the emulated grid passes the contract suite of every
// trainer.
func TestMLPContract(t *testing.T) {
	cfg, err := train.NewMLPConfig(256, 4, 8, 32)
	require.NoError(t, err)
	emu, err := launch.NewMLP(&hostemu.Device{})
	require.NoError(t, err)
	trainertest.Run(t, trainertest.Config{
		Trainer: emu,
		Model:   cfg,
		Init: func(cfg bistro.ModelConfig) (bistro.Model, error) {
			return train.InitMLP(cfg, bistro.Hash{7})
		},
		Pages: opticsPages(t, 200, 40, 2),
		LR:    0.5,
		Clip:  1,
	})
}

// launch.GPT on the emulated grid passes the contract suite of every
// trainer.
func TestGPTContract(t *testing.T) {
	cfg, err := train.NewGPTConfig(64, 16, 24, 2, 3, 48)
	require.NoError(t, err)
	emu, err := launch.NewGPT(&hostemu.Device{}, cfg)
	require.NoError(t, err)
	var pages [][]int32
	for _, p := range opticsPages(t, 40, 60, 3) {
		q := make([]int32, len(p))
		for j, x := range p {
			q[j] = x % 64
		}
		pages = append(pages, q)
	}
	trainertest.Run(t, trainertest.Config{
		Trainer: emu,
		Model:   cfg,
		Init: func(cfg bistro.ModelConfig) (bistro.Model, error) {
			return train.InitGPT(cfg, bistro.Hash{7})
		},
		Pages: pages,
		LR:    0.5,
		Clip:  1,
	})
}
