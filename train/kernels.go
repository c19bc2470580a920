package train

import "os"

// useAVX512 chooses the AVX-512F kernels (the 8×32 register block of the
// products, eight-lane exp and tanh) over the AVX2 ones where the CPU has
// both; the environment variable BISTRO_NO_AVX512, set to anything but ""
// or "0" when the process starts, keeps the AVX2 kernels, so that both can
// be compared on one machine. Either gives the same bits. The tests flip it.
var useAVX512 = haveAVX512 && avx512Allowed(os.Getenv("BISTRO_NO_AVX512"))

func avx512Allowed(v string) bool { return v == "" || v == "0" }

// Kernels describes the kernels that this process's products and
// elementary functions run on, for benchmarks' headers: "sgemm AVX-512
// 8x32", "sgemm AVX2 6x16", "sgemm OpenBLAS" or "sgemm portable", then the
// exp/tanh kernels ("AVX-512 x8", "AVX2 x4" or "math").
func Kernels() string {
	mm := "portable"
	switch {
	case useBLAS:
		mm = "OpenBLAS"
	case useSgemm:
		mm = sgKernelInUse().name
	}
	vm := "math"
	switch {
	case useVecExp && useAVX512:
		vm = "AVX-512 x8"
	case useVecExp:
		vm = "AVX2 x4"
	}
	if useVecExp && !useVecTanh { // GOAMD64=v3: tanh is math's
		return "sgemm " + mm + ", exp " + vm + ", tanh math"
	}
	return "sgemm " + mm + ", exp/tanh " + vm
}
