package train

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKernelInfo logs the kernels this process runs on (scripts/bench-train
// prints the line in its header) and checks that the description follows
// useAVX512.
func TestKernelInfo(t *testing.T) {
	t.Logf("kernels: %s", Kernels())
	if !useSgemm || useBLAS {
		return
	}
	defer func(old bool) { useAVX512 = old }(useAVX512)
	useAVX512 = false
	assert.True(t, strings.HasPrefix(Kernels(), "sgemm AVX2 "), Kernels())
	if haveAVX512 {
		useAVX512 = true
		assert.True(t, strings.HasPrefix(Kernels(), "sgemm AVX-512 "), Kernels())
	}
}

// BISTRO_NO_AVX512 turns AVX-512 off when set to anything but "" or "0".
func TestAVX512Allowed(t *testing.T) {
	for v, want := range map[string]bool{"": true, "0": true, "1": false, "yes": false, "true": false} {
		assert.Equal(t, want, avx512Allowed(v), "BISTRO_NO_AVX512=%q", v)
	}
}
