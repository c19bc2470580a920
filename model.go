package bistro

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// MaxTensorLen bounds the elements of one tensor: slice indices are uint32
// offsets within a tensor.
const MaxTensorLen = math.MaxUint32

// MaxTensors bounds how many tensors a layout has.
const MaxTensors = 1 << 16

// TensorSpec names one tensor of a model and gives its shape (row-major).
type TensorSpec struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Len returns the number of elements (the product of the shape).
func (t TensorSpec) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Layout is a model's ordered list of named tensors. The order is part of the
// protocol: tensor indices, slice selection and files all follow it.
type Layout []TensorSpec

// ErrLayout is wrapped by errors about a layout or a tensor's shape.
var ErrLayout = errors.New("bistro: bad layout")

// Validate checks that names are unique and non-empty (at most 255 bytes), every
// dimension is positive, and every tensor fits MaxTensorLen.
func (l Layout) Validate() error {
	if len(l) == 0 || len(l) > MaxTensors {
		return fmt.Errorf("%w: %d tensors (want 1 … %d)", ErrLayout, len(l), MaxTensors)
	}
	seen := make(map[string]bool, len(l))
	for i, t := range l {
		if t.Name == "" || len(t.Name) > 255 {
			return fmt.Errorf("%w: tensor %d: name of %d bytes", ErrLayout, i, len(t.Name))
		}
		if seen[t.Name] {
			return fmt.Errorf("%w: tensor name %q repeated", ErrLayout, t.Name)
		}
		seen[t.Name] = true
		if len(t.Shape) == 0 || len(t.Shape) > 8 {
			return fmt.Errorf("%w: tensor %q: %d dimensions (want 1 … 8)", ErrLayout, t.Name, len(t.Shape))
		}
		n := uint64(1)
		for _, d := range t.Shape {
			if d <= 0 {
				return fmt.Errorf("%w: tensor %q: dimension %d", ErrLayout, t.Name, d)
			}
			n *= uint64(d)
			if n > MaxTensorLen {
				return fmt.Errorf("%w: tensor %q: more than %d elements", ErrLayout, t.Name, uint64(MaxTensorLen))
			}
		}
	}
	return nil
}

// Len returns the total number of elements.
func (l Layout) Len() uint64 {
	var n uint64
	for _, t := range l {
		n += uint64(t.Len())
	}
	return n
}

// Index returns the position of the tensor called name, or -1.
func (l Layout) Index(name string) int {
	for i, t := range l {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// Digest returns H("bistro/layout", u32 count, then per tensor: name, u32
// rank, u64 dims).
func (l Layout) Digest() Hash {
	h := newHasher("bistro/layout")
	h.u32(uint32(len(l)))
	for _, t := range l {
		h.str(t.Name)
		h.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			h.u64(uint64(d))
		}
	}
	return h.sum()
}

// Tensors is read access to a set of tensors laid out by Layout: a model's
// parameters, or an update Δ that a Trainer computed.
type Tensors interface {
	// Layout returns the layout; callers must not modify it.
	Layout() Layout
	// Gather copies the elements of tensor t at idx (offsets into the
	// tensor, in any order) into dst, which has len(idx) elements.
	Gather(t int, idx []uint32, dst []float32) error
}

// Model is the parameter state θ of the shared model. It may live on a GPU
// and hold billions of parameters: callers never ask for all weights at once,
// only for one tensor or for elements at indices. Methods are not safe for
// concurrent use with Apply or Write.
type Model interface {
	Tensors
	// Apply adds delta to tensor t at idx in float32: θ[i] = float32(θ[i] + Δ[i]).
	// Every implementation must give the same bits (round to nearest even).
	Apply(t int, idx []uint32, delta []float32) error
	// Read copies the whole tensor t into dst (len = the tensor's length).
	Read(t int, dst []float32) error
	// Write replaces tensor t with src (len = the tensor's length).
	Write(t int, src []float32) error
}

// Trainer computes updates of the shared model. Implementations must be
// deterministic: the same model, pages and constants give the same bits on
// every run and every GOMAXPROCS, since validators recompute miners' updates.
type Trainer interface {
	// NewModel returns a zeroed model of this trainer's architecture for cfg,
	// ready to Write a checkpoint into.
	NewModel(cfg ModelConfig) (Model, error)
	// Update returns Δ = −lr · clip(g), g the mean gradient of the loss over
	// pages on m, clip scaling g to L2 norm at most clipNorm. It never
	// changes m. The result stays valid after m changes.
	Update(ctx context.Context, m Model, pages [][]int32, lr, clipNorm float64) (Tensors, error)
	// Loss returns the mean loss per predicted token over pages on m.
	Loss(ctx context.Context, m Model, pages [][]int32) (float64, error)
}

// MemModel is a Model held in one flat float32 buffer with a view per tensor.
// CPU trainers build on it.
type MemModel struct {
	layout  Layout
	offsets []int // offsets[t] is where tensor t starts; offsets[len] = total
	data    []float32
}

var _ Model = (*MemModel)(nil)

// NewMemModel allocates a zeroed model for layout.
func NewMemModel(layout Layout) (*MemModel, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	m := &MemModel{layout: layout, offsets: make([]int, len(layout)+1)}
	for i, t := range layout {
		m.offsets[i+1] = m.offsets[i] + t.Len()
	}
	m.data = make([]float32, m.offsets[len(layout)])
	return m, nil
}

// Layout returns the layout.
func (m *MemModel) Layout() Layout { return m.layout }

// Flat returns the whole parameter buffer; tensors follow each other in
// layout order. The caller may modify it.
func (m *MemModel) Flat() []float32 { return m.data }

// Tensor returns the view of tensor t (nil when out of range).
func (m *MemModel) Tensor(t int) []float32 {
	if t < 0 || t >= len(m.layout) {
		return nil
	}
	return m.data[m.offsets[t]:m.offsets[t+1]:m.offsets[t+1]]
}

// Clone returns a deep copy.
func (m *MemModel) Clone() *MemModel {
	c := *m
	c.data = append([]float32(nil), m.data...)
	return &c
}

// Gather copies tensor t at idx into dst.
func (m *MemModel) Gather(t int, idx []uint32, dst []float32) error {
	v, err := m.view(t, len(idx), len(dst))
	if err != nil {
		return err
	}
	for i, j := range idx {
		if int(j) >= len(v) {
			return fmt.Errorf("%w: index %d out of tensor %q of %d", ErrLayout, j, m.layout[t].Name, len(v))
		}
		dst[i] = v[j]
	}
	return nil
}

// Apply adds delta to tensor t at idx.
func (m *MemModel) Apply(t int, idx []uint32, delta []float32) error {
	v, err := m.view(t, len(idx), len(delta))
	if err != nil {
		return err
	}
	for _, j := range idx {
		if int(j) >= len(v) {
			return fmt.Errorf("%w: index %d out of tensor %q of %d", ErrLayout, j, m.layout[t].Name, len(v))
		}
	}
	for i, j := range idx {
		v[j] += delta[i]
	}
	return nil
}

// Read copies tensor t into dst.
func (m *MemModel) Read(t int, dst []float32) error {
	v := m.Tensor(t)
	if v == nil || len(dst) != len(v) {
		return fmt.Errorf("%w: read tensor %d into %d elements", ErrLayout, t, len(dst))
	}
	copy(dst, v)
	return nil
}

// Write replaces tensor t with src.
func (m *MemModel) Write(t int, src []float32) error {
	v := m.Tensor(t)
	if v == nil || len(src) != len(v) {
		return fmt.Errorf("%w: write %d elements to tensor %d", ErrLayout, len(src), t)
	}
	copy(v, src)
	return nil
}

func (m *MemModel) view(t, nidx, nval int) ([]float32, error) {
	v := m.Tensor(t)
	if v == nil {
		return nil, fmt.Errorf("%w: tensor %d of %d", ErrLayout, t, len(m.layout))
	}
	if nidx != nval {
		return nil, fmt.Errorf("%w: %d indices, %d values", ErrLayout, nidx, nval)
	}
	return v, nil
}
