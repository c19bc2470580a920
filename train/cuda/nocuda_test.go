//go:build !cuda

package cuda_test

import (
	"testing"

	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/cuda"
	"github.com/stretchr/testify/require"
)

// Without the tag there is no GPU code, and asking for it says so.
func TestNotBuilt(t *testing.T) {
	_, err := cuda.Open(0)
	require.ErrorIs(t, err, cuda.ErrNotBuilt)
	_, err = cuda.NewMLP(nil)
	require.ErrorIs(t, err, cuda.ErrNotBuilt)
	_, err = cuda.NewGPT(nil, train.GPTTiny())
	require.ErrorIs(t, err, cuda.ErrNotBuilt)
}
