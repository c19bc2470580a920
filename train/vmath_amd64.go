//go:build !purego

package train

import "golang.org/x/sys/cpu"

// haveVecExp reports whether expAVX2 and tanhAVX2 (vmath_amd64.s) run here
// and give math's bits: they replicate the FMA path of math.Exp, which math
// takes exactly when the CPU has AVX and FMA.
var haveVecExp = cpu.X86.HasAVX2 && cpu.X86.HasAVX && cpu.X86.HasFMA

//go:noescape
func expAVX2(dst, src *float64, n int) int

//go:noescape
func tanhAVX2(dst, src *float64, n int) int

//go:noescape
func sumSqAVX2(gp **float32, ng int, base, dst *float64, n int, total, sq float64) float64

//go:noescape
func deltaAVX2(out *float32, gp **float32, ng, n int, total, coef float64)

//go:noescape
func geluFwdAVX2(y, x *float32, n int) int

//go:noescape
func geluBwdAVX2(dx, dy, x *float32, n int) int

// The AVX-512F twins of the four functions above, eight lanes at a time
// (vmath_amd64.s); they run where haveAVX512 and haveVecExp both hold.

//go:noescape
func expAVX512(dst, src *float64, n int) int

//go:noescape
func tanhAVX512(dst, src *float64, n int) int

//go:noescape
func geluFwdAVX512(y, x *float32, n int) int

//go:noescape
func geluBwdAVX512(dx, dy, x *float32, n int) int
