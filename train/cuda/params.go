package cuda

import (
	"fmt"
	"math"

	"github.com/bistro-go/bistro/train/internal/cuda/launch"
)

// kernelParams lays out a kernel's arguments (launch.Device's Launch) for
// cuLaunchKernel: one 8-byte slot per parameter, since gorgonia.org/cu
// copies 8 bytes from behind each parameter pointer and the driver reads
// the parameter's own size from its start, little-endian: a pointer or a
// long long whole, an int in the low 4 bytes, a double's bits.
func kernelParams(args []any) ([]uint64, error) {
	slots := make([]uint64, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case launch.Ptr:
			slots[i] = uint64(a)
		case int32:
			slots[i] = uint64(uint32(a))
		case int64:
			slots[i] = uint64(a)
		case float64:
			slots[i] = math.Float64bits(a)
		default:
			return nil, fmt.Errorf("%w: argument %d is a %T", launch.ErrArgs, i, a)
		}
	}
	return slots, nil
}
