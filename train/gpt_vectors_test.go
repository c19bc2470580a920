package train

import (
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/golden"
)

// TestVectorsGPTInit pins gpt2/v1's layout and init rule (InitGPT) for the
// Python reader: layout digest, θ hash and the first values of every
// tensor, as float32 bits, for two small configs (the Python reader draws
// every value in pure Python, so the configs stay small).
func TestVectorsGPTInit(t *testing.T) {
	type tensor struct {
		Name  string   `json:"name"`
		Shape []int    `json:"shape"`
		First []uint32 `json:"first_bits"`
	}
	type vec struct {
		Config  bistro.ModelConfig `json:"config"`
		Seed    bistro.Hash        `json:"seed"`
		Layout  bistro.Hash        `json:"layout_digest"`
		Theta   bistro.Hash        `json:"theta_hash"`
		Tensors []tensor           `json:"tensors"`
	}
	small, err := NewGPTConfig(11, 6, 8, 2, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	bytesCfg, err := NewGPTConfig(256, 16, 16, 3, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []vec
	for i, cfg := range []bistro.ModelConfig{small, bytesCfg} {
		var seed bistro.Hash
		for j := range seed {
			seed[j] = byte(j + i)
		}
		m, err := InitGPT(cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		theta, err := bistro.ThetaHash(m)
		if err != nil {
			t.Fatal(err)
		}
		v := vec{Config: cfg, Seed: seed, Layout: m.Layout().Digest(), Theta: theta}
		for ti, s := range m.Layout() {
			tv := tensor{Name: s.Name, Shape: s.Shape}
			for _, x := range m.Tensor(ti)[:4] {
				tv.First = append(tv.First, math.Float32bits(x))
			}
			v.Tensors = append(v.Tensors, tv)
		}
		out = append(out, v)
	}
	golden.JSON(t, "../testdata/vectors/gpt_init.json", out)
}
