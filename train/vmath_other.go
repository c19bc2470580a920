//go:build !amd64 || purego

package train

const haveVecExp = false

func expAVX2(dst, src *float64, n int) int  { return 0 }
func tanhAVX2(dst, src *float64, n int) int { return 0 }

func sumSqAVX2(gp **float32, ng int, base, dst *float64, n int, total, sq float64) float64 {
	panic("train: no assembly in this build")
}

func deltaAVX2(out *float32, gp **float32, ng, n int, total, coef float64) {
	panic("train: no assembly in this build")
}

func geluFwdAVX2(y, x *float32, n int) int      { return 0 }
func geluBwdAVX2(dx, dy, x *float32, n int) int { return 0 }

func expAVX512(dst, src *float64, n int) int      { return 0 }
func tanhAVX512(dst, src *float64, n int) int     { return 0 }
func geluFwdAVX512(y, x *float32, n int) int      { return 0 }
func geluBwdAVX512(dx, dy, x *float32, n int) int { return 0 }
