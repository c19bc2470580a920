package bistro

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
)

// The twins below are the smallest Model/Trainer/Dataset that exercise the
// protocol: a quadratic loss ½‖θ − x(page)‖² per page, whose gradient is
// θ − x. They live in tests only; train/ holds the real trainers.

var toyLayout = Layout{{Name: "w", Shape: []int{8, 4}}, {Name: "b", Shape: []int{6}}}

type toyTrainer struct{}

func (toyTrainer) NewModel(cfg ModelConfig) (Model, error) { return NewMemModel(toyLayout) }

// target maps a page's tokens to a point of the parameter space.
func target(page []int32, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(page[i%len(page)]%97) / 97
	}
	return x
}

func (toyTrainer) grad(ctx context.Context, m Model, pages [][]int32) ([]float64, error) {
	l := m.Layout()
	n := int(l.Len())
	theta := make([]float64, 0, n)
	for t, s := range l {
		buf := make([]float32, s.Len())
		if err := m.Read(t, buf); err != nil {
			return nil, err
		}
		for _, v := range buf {
			theta = append(theta, float64(v))
		}
	}
	g := make([]float64, n)
	for _, p := range pages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x := target(p, n)
		for i := range g {
			g[i] += (theta[i] - x[i]) / float64(len(pages))
		}
	}
	return g, nil
}

func (tr toyTrainer) Update(ctx context.Context, m Model, pages [][]int32, lr, clip float64) (Tensors, error) {
	g, err := tr.grad(ctx, m, pages)
	if err != nil {
		return nil, err
	}
	var norm float64
	for _, v := range g {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	scale := -lr
	if norm > clip {
		scale = -lr * clip / norm
	}
	d, _ := NewMemModel(m.Layout())
	for i, v := range g {
		d.Flat()[i] = float32(scale * v)
	}
	return d, nil
}

func (tr toyTrainer) Loss(ctx context.Context, m Model, pages [][]int32) (float64, error) {
	g, err := tr.grad(ctx, m, pages)
	if err != nil {
		return 0, err
	}
	var s float64
	for _, v := range g {
		s += v * v / 2
	}
	return s, nil
}

type toyDataset struct {
	pages  uint64
	length int
}

func (d toyDataset) Digest() Hash {
	return sha256.Sum256([]byte(fmt.Sprintf("toy %d %d", d.pages, d.length)))
}
func (d toyDataset) Pages() uint64   { return d.pages }
func (d toyDataset) PageLength() int { return d.length }
func (d toyDataset) Page(ctx context.Context, id uint64, dst []int32) ([]int32, error) {
	if id >= d.pages {
		return nil, ErrNoPage
	}
	r := NewRand(Hash{byte(id), byte(id >> 8), 0xaa})
	dst = dst[:0]
	for i := 0; i < d.length; i++ {
		dst = append(dst, int32(r.Below(256)))
	}
	return dst, nil
}

// toyParams are Params matching the twins.
func toyParams() Params {
	p := testParams()
	ds := toyDataset{pages: 64, length: 16}
	p.DatasetPages, p.PageLength, p.DatasetDigest = ds.pages, uint32(ds.length), ds.Digest()
	p.Model = ModelConfig{Arch: "toy", Parameters: toyLayout.Len()}
	p.SliceFraction, p.SliceRun = 0.25, 1
	p.LR = Schedule{Kind: ConstantLR, Base: 0.1}
	p.ClipNorm = 10
	return p
}

var (
	_ Trainer = toyTrainer{}
	_ Dataset = toyDataset{}
)
