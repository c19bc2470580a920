// Package llmc writes the files that karpathy/llm.c's CPU trainer
// (train_gpt2.c) reads, so that it can train the very model a gpt2/v1
// trainer trains, on the same tokens: the reference that
// scripts/bench-train measures package train against. Its checkpoints cannot
// be downloaded here; WriteCheckpoint converts any gpt2/v1 model (InitGPT's
// random θ₀ in the benchmarks), WriteTokens writes a token file.
//
//	cfg := train.GPTTiny()
//	m, err := train.InitGPT(cfg, seed)
//	err = llmc.WriteCheckpoint(f, cfg, m)   // gpt2_124M.bin, whatever its size
//	err = llmc.WriteTokens(g, ids)          // dev/data/…/*.bin
//
// The formats, as train_gpt2.c (gpt2_build_from_checkpoint) and
// llmc/dataloader.h read them, all little-endian:
//
//	checkpoint: 256 int32 header: 20240326, 3, maxT, V, L, NH, C, Vp, then zeros;
//	            then float32 parameters, 16 tensors in this order:
//	            wte (Vp, C), wpe (maxT, C), ln1w (L, C), ln1b (L, C),
//	            qkvw (L, 3C, C), qkvb (L, 3C), attprojw (L, C, C), attprojb (L, C),
//	            ln2w (L, C), ln2b (L, C), fcw (L, 4C, C), fcb (L, 4C),
//	            fcprojw (L, C, 4C), fcprojb (L, C), lnfw (C), lnfb (C)
//	tokens:     256 int32 header: 20240520, 1, ntok, then zeros; then ntok uint16
//
// llm.c stores a linear layer's weight [out, in] where gpt2/v1 (GPT-2's
// Conv1D) stores it [in, out], so weights are transposed; the rows of wte
// past V (the vocabulary padded to Vp, a multiple of 128) are zero. llm.c
// fixes the MLP width at 4C, so a model of another Hidden is refused.
package llmc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
)

// Header words of the two formats.
const (
	CheckpointMagic   = 20240326
	CheckpointVersion = 3
	TokensMagic       = 20240520
	TokensVersion     = 1
	headerWords       = 256
)

// ErrModel is wrapped by errors about a model llm.c cannot represent.
var ErrModel = errors.New("llmc: model llm.c cannot load")

// PaddedVocab returns v rounded up to a multiple of 128, llm.c's Vp.
func PaddedVocab(v int) int { return (v + 127) / 128 * 128 }

// WriteCheckpoint writes m, a gpt2/v1 model of cfg, as an llm.c checkpoint
// (version 3, float32).
func WriteCheckpoint(w io.Writer, cfg bistro.ModelConfig, m bistro.Model) error {
	layout, err := train.GPTLayout(cfg)
	if err != nil {
		return err
	}
	if cfg.Hidden != 4*cfg.Embed {
		return fmt.Errorf("%w: MLP width %d, llm.c's is 4·%d", ErrModel, cfg.Hidden, cfg.Embed)
	}
	if m == nil || m.Layout().Digest() != layout.Digest() {
		return fmt.Errorf("%w: the model's layout is not that of %+v", ErrModel, cfg)
	}
	v, c, l := int(cfg.Vocab), int(cfg.Embed), int(cfg.Layers)
	maxT, vp := int(cfg.Context), PaddedVocab(v)
	read := func(name string) ([]float32, error) {
		for t, spec := range layout {
			if spec.Name == name {
				buf := make([]float32, spec.Len())
				if err := m.Read(t, buf); err != nil {
					return nil, fmt.Errorf("llmc: read %s: %w", name, err)
				}
				return buf, nil
			}
		}
		return nil, fmt.Errorf("%w: no tensor %s", ErrModel, name)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := make([]int32, headerWords)
	copy(hdr, []int32{CheckpointMagic, CheckpointVersion, int32(maxT), int32(v), int32(l),
		int32(cfg.Heads), int32(c), int32(vp)})
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	var b4 [4]byte
	put := func(xs []float32) error {
		for _, x := range xs {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(x))
			if _, err := bw.Write(b4[:]); err != nil {
				return err
			}
		}
		return nil
	}
	// putT writes w ([in, out], row-major) as [out, in].
	putT := func(w []float32, in, out int) error {
		t := make([]float32, len(w))
		for i := range in {
			for o := range out {
				t[o*in+i] = w[i*out+o]
			}
		}
		return put(t)
	}
	wte, err := read("wte.weight")
	if err != nil {
		return err
	}
	if err := put(wte); err != nil {
		return err
	}
	if err := put(make([]float32, (vp-v)*c)); err != nil {
		return err
	}
	wpe, err := read("wpe.weight")
	if err != nil {
		return err
	}
	if err := put(wpe); err != nil {
		return err
	}
	// The per-layer tensors, each stacked over the layers: the block's
	// tensor name, and its [in, out] shape for weights (in 0 for vectors).
	for _, t := range []struct {
		name    string
		in, out int
	}{
		{"ln_1.weight", 0, c}, {"ln_1.bias", 0, c},
		{"attn.c_attn.weight", c, 3 * c}, {"attn.c_attn.bias", 0, 3 * c},
		{"attn.c_proj.weight", c, c}, {"attn.c_proj.bias", 0, c},
		{"ln_2.weight", 0, c}, {"ln_2.bias", 0, c},
		{"mlp.c_fc.weight", c, 4 * c}, {"mlp.c_fc.bias", 0, 4 * c},
		{"mlp.c_proj.weight", 4 * c, c}, {"mlp.c_proj.bias", 0, c},
	} {
		for b := range l {
			x, err := read(fmt.Sprintf("h.%d.%s", b, t.name))
			if err != nil {
				return err
			}
			if t.in == 0 {
				err = put(x)
			} else {
				err = putT(x, t.in, t.out)
			}
			if err != nil {
				return err
			}
		}
	}
	for _, name := range []string{"ln_f.weight", "ln_f.bias"} {
		x, err := read(name)
		if err != nil {
			return err
		}
		if err := put(x); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteTokens writes ids as an llm.c token file (uint16 tokens); every id
// must be in [0, 65535].
func WriteTokens(w io.Writer, ids []int32) error {
	if len(ids) == 0 || len(ids) > math.MaxInt32 {
		return fmt.Errorf("llmc: %d tokens", len(ids))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := make([]int32, headerWords)
	copy(hdr, []int32{TokensMagic, TokensVersion, int32(len(ids))})
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	var b2 [2]byte
	for i, id := range ids {
		if id < 0 || id > math.MaxUint16 {
			return fmt.Errorf("llmc: token %d at %d does not fit in uint16", id, i)
		}
		binary.LittleEndian.PutUint16(b2[:], uint16(id))
		if _, err := bw.Write(b2[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
