package cuda

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/bistro-go/bistro/train/internal/cuda/launch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each parameter's bytes, read at its size from the start of its slot, are
// its value as the kernel declares it.
func TestKernelParams(t *testing.T) {
	slots, err := kernelParams([]any{launch.Ptr(0x7f0012345678), int32(-3), int64(-5), float64(-0.1)})
	require.NoError(t, err)
	b := make([]byte, 8*len(slots))
	for i, s := range slots {
		binary.LittleEndian.PutUint64(b[8*i:], s)
	}
	assert.Equal(t, uint64(0x7f0012345678), binary.LittleEndian.Uint64(b[0:]))
	assert.Equal(t, int32(-3), int32(binary.LittleEndian.Uint32(b[8:])))
	assert.Equal(t, int64(-5), int64(binary.LittleEndian.Uint64(b[16:])))
	assert.Equal(t, -0.1, math.Float64frombits(binary.LittleEndian.Uint64(b[24:])))

	_, err = kernelParams([]any{3})
	assert.ErrorIs(t, err, launch.ErrArgs, "an int is not a kernel type")
}
