//go:build !purego

package train

import "golang.org/x/sys/cpu"

// haveSgemm reports whether sgemm6x16 (sgemm_amd64.s, AVX2) can run here.
var haveSgemm = cpu.X86.HasAVX2

// haveAVX512 reports whether the AVX-512F kernels (sgemm512_amd64.s,
// vmath512_amd64.s) can run here: the CPU has AVX-512F and the OS saves
// the ZMM state (x/sys/cpu checks both). The kernels use nothing past
// AVX-512F, and the AVX2 kernels' own requirements besides.
var haveAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sgemm6x16 is the AVX2 register block of the float32 products; see
// sgemm_amd64.s. Strides are in bytes.
//
//go:noescape
func sgemm6x16(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool)

// sgemm8x32 is the AVX-512F register block; see sgemm512_amd64.s.
//
//go:noescape
func sgemm8x32(k int, a *float32, rsa, csa int, b, c *float32, ldc int, load bool)

// packRows16 copies kb rows of 16 floats, lds floats apart, to dst densely.
//
//go:noescape
func packRows16(dst, src *float32, kb, lds int)

// packRows32 copies kb rows of 32 floats, lds floats apart, to dst densely.
//
//go:noescape
func packRows32(dst, src *float32, kb, lds int)

// transpose8x8 sets the 8×8 block at dst (rows ldd apart) to the transpose
// of the block at src (rows lds apart).
//
//go:noescape
func transpose8x8(dst *float32, ldd int, src *float32, lds int)
