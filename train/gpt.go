package train

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/bistro-go/bistro"
)

// GPTArch is the ModelConfig.Arch of the model GPT trains.
const GPTArch = "gpt2/v1"

// GPTLayerNormEps is ε of every LayerNorm of gpt2/v1, GPT-2's
// layer_norm_epsilon.
const GPTLayerNormEps = 1e-5

// GPTInitStd is the standard deviation of θ₀'s random weights (GPT-2's
// initializer_range); see InitGPT.
const GPTInitStd = 0.02

// gdims are the sizes of a gpt2/v1 model.
type gdims struct {
	v, c, e, h int // vocabulary, context, width, MLP hidden
	l, nh      int // layers, heads
}

func (d gdims) hd() int { return d.e / d.nh }

// gptBlockTensors are the tensors of block N, in layout order, after the
// prefix "h.N.": name, then whether the shape is [in, out] (a weight) or
// [out] (a bias or a LayerNorm vector), with in and out as functions of the
// sizes.
var gptBlockTensors = []struct {
	name    string
	in, out func(d gdims) int // in is nil for vectors
}{
	{"ln_1.weight", nil, gdE},
	{"ln_1.bias", nil, gdE},
	{"attn.c_attn.weight", gdE, gd3E},
	{"attn.c_attn.bias", nil, gd3E},
	{"attn.c_proj.weight", gdE, gdE},
	{"attn.c_proj.bias", nil, gdE},
	{"ln_2.weight", nil, gdE},
	{"ln_2.bias", nil, gdE},
	{"mlp.c_fc.weight", gdE, gdH},
	{"mlp.c_fc.bias", nil, gdH},
	{"mlp.c_proj.weight", gdH, gdE},
	{"mlp.c_proj.bias", nil, gdE},
}

func gdE(d gdims) int  { return d.e }
func gd3E(d gdims) int { return 3 * d.e }
func gdH(d gdims) int  { return d.h }

func (d gdims) layout() bistro.Layout {
	l := make(bistro.Layout, 0, 4+len(gptBlockTensors)*d.l)
	l = append(l,
		bistro.TensorSpec{Name: "wte.weight", Shape: []int{d.v, d.e}},
		bistro.TensorSpec{Name: "wpe.weight", Shape: []int{d.c, d.e}})
	for b := range d.l {
		for _, t := range gptBlockTensors {
			shape := []int{t.out(d)}
			if t.in != nil {
				shape = []int{t.in(d), t.out(d)}
			}
			l = append(l, bistro.TensorSpec{Name: fmt.Sprintf("h.%d.%s", b, t.name), Shape: shape})
		}
	}
	return append(l,
		bistro.TensorSpec{Name: "ln_f.weight", Shape: []int{d.e}},
		bistro.TensorSpec{Name: "ln_f.bias", Shape: []int{d.e}})
}

func (d gdims) params() int {
	block := 2*d.e + d.e*3*d.e + 3*d.e + d.e*d.e + d.e + 2*d.e + d.e*d.h + d.h + d.h*d.e + d.e
	return d.v*d.e + d.c*d.e + d.l*block + 2*d.e
}

// maxLayers bounds Layers so that the layout stays within bistro.MaxTensors.
const maxLayers = (bistro.MaxTensors - 4) / 12

func gptDims(cfg bistro.ModelConfig) (gdims, error) {
	if err := checkSizes(cfg, GPTArch); err != nil {
		return gdims{}, err
	}
	bad := func(format string, a ...any) (gdims, error) {
		return gdims{}, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case cfg.Layers < 1 || cfg.Layers > maxLayers:
		return bad("layers %d not in [1, %d]", cfg.Layers, maxLayers)
	case cfg.Heads < 1 || cfg.Embed%cfg.Heads != 0:
		return bad("heads %d do not divide embed %d", cfg.Heads, cfg.Embed)
	}
	return gdims{v: int(cfg.Vocab), c: int(cfg.Context), e: int(cfg.Embed), h: int(cfg.Hidden),
		l: int(cfg.Layers), nh: int(cfg.Heads)}, nil
}

// GPTLayout returns the layout of gpt2/v1 for cfg. Names and shapes are
// those of Hugging Face's GPT2Model state_dict (the keys of the hub's
// gpt2 model.safetensors), in its order:
//
//	wte.weight               [Vocab, Embed]    token embedding, also the LM head
//	wpe.weight               [Context, Embed]  position embedding
//	h.N.ln_1.weight, .bias   [Embed]           for N = 0 … Layers−1
//	h.N.attn.c_attn.weight   [Embed, 3·Embed]  fused q, k, v (Conv1D: [in, out])
//	h.N.attn.c_attn.bias     [3·Embed]
//	h.N.attn.c_proj.weight   [Embed, Embed]
//	h.N.attn.c_proj.bias     [Embed]
//	h.N.ln_2.weight, .bias   [Embed]
//	h.N.mlp.c_fc.weight      [Embed, Hidden]
//	h.N.mlp.c_fc.bias        [Hidden]
//	h.N.mlp.c_proj.weight    [Hidden, Embed]
//	h.N.mlp.c_proj.bias      [Embed]
//	ln_f.weight, ln_f.bias   [Embed]
//
// Every weight is stored [in, out] as GPT-2's Conv1D stores it (a layer
// computes x·W + b), so the tensors load as they are into
// transformers.GPT2Model (load_state_dict; strict=False with versions of
// transformers that keep the causal-mask buffers h.N.attn.bias in the
// state_dict, which are not parameters), and into GPT2LMHeadModel with the
// prefix "transformer." (lm_head.weight is wte.weight, tied, so not
// stored). The columns of c_attn are q, then k, then v, each split into
// Heads heads of Embed/Heads columns, as GPT-2 splits them. Every tensor is
// float32 (F32 in a checkpoint file, torch.float32). With
// activation_function "gelu_new", layer_norm_epsilon 1e-5 and no dropout,
// the function is GPT-2's.
//
// cfg must name GPTArch, with Vocab ≥ 2, Context, Embed, Hidden ≥ 1,
// Layers ≥ 1, Heads dividing Embed, and Parameters equal to the layout's
// total (NewGPTConfig fills it in).
func GPTLayout(cfg bistro.ModelConfig) (bistro.Layout, error) {
	d, err := gptDims(cfg)
	if err != nil {
		return nil, err
	}
	l := d.layout()
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if n := l.Len(); cfg.Parameters != n {
		return nil, fmt.Errorf("%w: parameters %d, the layout has %d", ErrConfig, cfg.Parameters, n)
	}
	return l, nil
}

// NewGPTConfig returns the gpt2/v1 config with the given sizes and
// Parameters filled in; hidden 0 means 4·embed, GPT-2's MLP width.
func NewGPTConfig(vocab, context, embed, layers, heads, hidden uint32) (bistro.ModelConfig, error) {
	if hidden == 0 && embed <= maxDim/4 {
		hidden = 4 * embed
	}
	cfg := bistro.ModelConfig{Arch: GPTArch, Vocab: vocab, Context: context, Embed: embed, Hidden: hidden,
		Layers: layers, Heads: heads}
	d, err := gptDims(cfg)
	if err != nil {
		return cfg, err
	}
	l := d.layout()
	if err := l.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.Parameters = l.Len()
	return cfg, nil
}

func mustGPTConfig(vocab, context, embed, layers, heads uint32) bistro.ModelConfig {
	cfg, err := NewGPTConfig(vocab, context, embed, layers, heads, 0)
	if err != nil {
		panic(err) // the presets are constants
	}
	return cfg
}

// GPTTiny returns the byte-level preset: 4 layers, 4 heads, width 256, MLP
// 1024, vocabulary 256 (train/tokens.Bytes), context 128; 3,257,856
// parameters.
func GPTTiny() bistro.ModelConfig { return mustGPTConfig(256, 128, 256, 4, 4) }

// GPT2Small returns the shapes of GPT-2 124M: 12 layers, 12 heads, width
// 768, MLP 3072, vocabulary 50257 (train/tokens.GPT2), context 1024;
// 124,439,808 parameters.
func GPT2Small() bistro.ModelConfig { return mustGPTConfig(50257, 1024, 768, 12, 12) }

// gptBlock is one block's tensors (of a model or of a gradient).
type gptBlock[T float] struct {
	ln1w, ln1b, attnW, attnB, projW, projB []T
	ln2w, ln2b, fcW, fcB, mprojW, mprojB   []T
}

// gptParams are the tensors of one model (or of one gradient) as views into
// a flat buffer in layout order.
type gptParams[T float] struct {
	wte, wpe   []T
	h          []gptBlock[T]
	lnfW, lnfB []T
}

func viewGPT[T float](d gdims, flat []T) gptParams[T] {
	off := 0
	next := func(n int) []T {
		s := flat[off : off+n : off+n]
		off += n
		return s
	}
	p := gptParams[T]{h: make([]gptBlock[T], d.l)}
	p.wte = next(d.v * d.e)
	p.wpe = next(d.c * d.e)
	for i := range p.h {
		b := &p.h[i]
		b.ln1w, b.ln1b = next(d.e), next(d.e)
		b.attnW, b.attnB = next(d.e*3*d.e), next(3*d.e)
		b.projW, b.projB = next(d.e*d.e), next(d.e)
		b.ln2w, b.ln2b = next(d.e), next(d.e)
		b.fcW, b.fcB = next(d.e*d.h), next(d.h)
		b.mprojW, b.mprojB = next(d.h*d.e), next(d.e)
	}
	p.lnfW, p.lnfB = next(d.e), next(d.e)
	return p
}

// sameLayout reports whether a and b name the same tensors with the same
// shapes in the same order.
func sameLayout(a, b bistro.Layout) bool {
	return slices.EqualFunc(a, b, func(x, y bistro.TensorSpec) bool {
		return x.Name == y.Name && slices.Equal(x.Shape, y.Shape)
	})
}

// InitGPT returns a gpt2/v1 model for cfg with θ₀ drawn from seed, GPT-2's
// initialisation with a uniform law of the same standard deviation (uniform
// values need no transcendental function, so every language draws the same
// bits):
//
//	r := bistro.NewRand(seed)
//	for each tensor in layout order:
//	    LayerNorm weights (ln_1, ln_2, ln_f .weight): every element 1 (no draw)
//	    biases (every .bias):                       every element 0 (no draw)
//	    the other tensors, each element in row-major order:
//	        u := r.Uint64() >> 40                    // top 24 bits
//	        v := float32(2·u + 1 − 2^24) / 2^24      // exact, odd multiples of 2^-24 in (−1, 1)
//	        w := float32(float64(v) · s)             // one float64 product, rounded once
//
// where, in float64, s = 0.02 · √3 (uniform on (−s, s) has standard
// deviation 0.02, GPTInitStd), and s = (0.02 · √3) / √(2·Layers) for
// attn.c_proj.weight and mlp.c_proj.weight, GPT-2's scaling of the
// projections into the residual stream.
func InitGPT(cfg bistro.ModelConfig, seed bistro.Hash) (*bistro.MemModel, error) {
	l, err := GPTLayout(cfg)
	if err != nil {
		return nil, err
	}
	m, err := bistro.NewMemModel(l)
	if err != nil {
		return nil, err
	}
	s := GPTInitStd * math.Sqrt(3)
	sProj := s / math.Sqrt(float64(2*cfg.Layers))
	r := bistro.NewRand(seed)
	for t, spec := range l {
		w := m.Tensor(t)
		switch name := spec.Name; {
		case strings.HasSuffix(name, ".bias"):
			// zero already
		case strings.HasPrefix(name, "ln_") || strings.Contains(name, ".ln_"):
			for i := range w {
				w[i] = 1
			}
		default:
			scale := s
			if strings.HasSuffix(name, ".c_proj.weight") {
				scale = sProj
			}
			for i := range w {
				u := int64(r.Uint64() >> 40)
				v := float32(2*u+1-1<<24) / (1 << 24)
				w[i] = float32(float64(v) * scale)
			}
		}
	}
	return m, nil
}
