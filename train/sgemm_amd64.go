//go:build !purego

package train

import "golang.org/x/sys/cpu"

// haveSgemm reports whether sgemm6x16 (sgemm_amd64.s, AVX2) can run here.
var haveSgemm = cpu.X86.HasAVX2

// sgemm6x16 is the register block of the float32 products; see
// sgemm_amd64.s. Strides are in bytes.
//
//go:noescape
func sgemm6x16(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool)

// packRows16 copies kb rows of 16 floats, lds floats apart, to dst densely.
//
//go:noescape
func packRows16(dst, src *float32, kb, lds int)

// transpose8x8 sets the 8×8 block at dst (rows ldd apart) to the transpose
// of the block at src (rows lds apart).
//
//go:noescape
func transpose8x8(dst *float32, ldd int, src *float32, lds int)
