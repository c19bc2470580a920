//go:build !amd64 || purego

package train

// haveSgemm and haveAVX512 are false: this build has no assembly kernel,
// and every product runs matmul.go's portable kernel.
const (
	haveSgemm  = false
	haveAVX512 = false
)

func sgemm6x16(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool) {
	panic("train: no assembly kernel in this build")
}

func sgemm8x32(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool) {
	panic("train: no assembly kernel in this build")
}

func packRows16(dst, src *float32, kb, lds int) { panic("train: no assembly kernel in this build") }

func packRows32(dst, src *float32, kb, lds int) { panic("train: no assembly kernel in this build") }

func transpose8x8(dst *float32, ldd int, src *float32, lds int) {
	panic("train: no assembly kernel in this build")
}
