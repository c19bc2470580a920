//go:build !cuda

package cuda

import "github.com/bistro-go/bistro"

// Device is a CUDA device; in this build (no cuda tag) there is none.
type Device struct{}

// Open returns ErrNotBuilt: this build has no CUDA code.
func Open(ordinal int) (*Device, error) { return nil, ErrNotBuilt }

// Close does nothing.
func (*Device) Close() error { return nil }

// NewMLP returns ErrNotBuilt: this build has no CUDA code.
func NewMLP(dev *Device) (bistro.Trainer, error) { return nil, ErrNotBuilt }

// NewGPT returns ErrNotBuilt: this build has no CUDA code.
func NewGPT(dev *Device, cfg bistro.ModelConfig) (bistro.Trainer, error) { return nil, ErrNotBuilt }
