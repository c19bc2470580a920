//go:build !purego

package bistro

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/cpu"
)

// BISTRO_NO_AVX512 turns the AVX-512 kernel off when set to anything but ""
// or "0"; the AVX2 kernel stays.
func TestChooseMergeKernel(t *testing.T) {
	ks := vectorKernels()
	if len(ks) == 0 {
		assert.Nil(t, chooseMergeKernel(""))
		t.Skip("no AVX2 here: the portable code only")
	}
	assert.Equal(t, ks[0], chooseMergeKernel(""))
	assert.Equal(t, ks[0], chooseMergeKernel("0"))
	if cpu.X86.HasAVX512F {
		assert.Equal(t, kernelAVX512, chooseMergeKernel(""))
		assert.Equal(t, kernelAVX2, chooseMergeKernel("1"))
	}
}
