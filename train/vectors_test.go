package train

import (
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/golden"
)

// TestVectorsMLPInit pins mlp/v1's layout and init rule (SPEC.md §12) for the
// Python reader: the first values of every tensor, as float32 bits.
func TestVectorsMLPInit(t *testing.T) {
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
	var out []vec
	for i, c := range [][4]uint32{{256, 3, 4, 5}, {256, 8, 16, 64}} {
		cfg, err := NewMLPConfig(c[0], c[1], c[2], c[3])
		if err != nil {
			t.Fatal(err)
		}
		var seed bistro.Hash
		for j := range seed {
			seed[j] = byte(j + i)
		}
		m, err := InitMLP(cfg, seed)
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
	golden.JSON(t, "../testdata/vectors/mlp_init.json", out)
}
