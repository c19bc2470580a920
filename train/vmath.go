package train

import "math"

// useVecExp and useVecTanh turn the replicas of math.Exp and math.Tanh
// (vmath_amd64.s: four lanes on AVX2, eight on AVX-512F when useAVX512) on
// where they give math's bits; the tests turn them off to compare.
var (
	useVecExp  = haveVecExp
	useVecTanh = haveVecExp && tanhUnfused
)

// The replicas must give math's bits; should this Go's math (or a GODEBUG
// cpu option) compute otherwise, a check of a few hundred arguments at
// start turns them off (both widths are checked: the eight-lane groups
// first, the four-lane ones on the odd tail of four).
func init() {
	if !useVecExp {
		return
	}
	xs := make([]float64, 0, 512)
	for i := range 256 {
		t := float64(i) / 255 // 0 … 1
		xs = append(xs, (t*2-1)*40, (t*2-1)*700, (t*2-1)*0.7)
	}
	xs = append(xs, 0, 0.625, -0.625, 44.01, -44.02, 1e-300)
	got := make([]float64, len(xs))
	expSlice(got, xs)
	for i, x := range xs {
		if math.Float64bits(got[i]) != math.Float64bits(math.Exp(x)) {
			useVecExp, useVecTanh = false, false
			return
		}
	}
	tanhSlice(got, xs)
	for i, x := range xs {
		if math.Float64bits(got[i]) != math.Float64bits(math.Tanh(x)) {
			useVecTanh = false
			return
		}
	}
}

// expSlice sets dst[i] = math.Exp(src[i]), to the bit; dst may be src.
func expSlice(dst, src []float64) {
	src = src[:len(dst)]
	for i := 0; i < len(dst); {
		if useVecExp && useAVX512 && len(dst)-i >= 8 {
			i += expAVX512(&dst[i], &src[i], len(dst)-i)
		}
		if useVecExp && len(dst)-i >= 4 {
			i += expAVX2(&dst[i], &src[i], len(dst)-i)
		}
		for end := min(i+4, len(dst)); i < end; i++ {
			dst[i] = math.Exp(src[i])
		}
	}
}

// tanhSlice sets dst[i] = math.Tanh(src[i]), to the bit; dst may be src.
func tanhSlice(dst, src []float64) {
	src = src[:len(dst)]
	for i := 0; i < len(dst); {
		if useVecTanh && useAVX512 && len(dst)-i >= 8 {
			i += tanhAVX512(&dst[i], &src[i], len(dst)-i)
		}
		if useVecTanh && len(dst)-i >= 4 {
			i += tanhAVX2(&dst[i], &src[i], len(dst)-i)
		}
		for end := min(i+4, len(dst)); i < end; i++ {
			dst[i] = math.Tanh(src[i])
		}
	}
}
