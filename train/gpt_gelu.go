package train

import "math"

// GELU with GPT-2's tanh approximation ("gelu_new"):
//
//	gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
//
// evaluated in float64 and rounded to T once. The constants are float64
// literals, √(2/π) = 0.7978845608028654.
const (
	geluC = 0.7978845608028654 // √(2/π), rounded to float64
	geluA = 0.044715
)

// geluForward sets y = gelu(x); y may be x.
func geluForward[T float](y, x []T) {
	for i, v := range x[:len(y)] {
		z := float64(v)
		y[i] = T(0.5 * z * (1 + math.Tanh(geluC*(z+float64(geluA*z*z*z)))))
	}
}

// geluBackward sets dx = T(dy · gelu'(x)) from the input x, with
//
//	t = tanh(√(2/π)·(x + 0.044715·x³))
//	gelu'(x) = ½·(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
//
// in float64; dx may be dy.
func geluBackward[T float](dx, dy, x []T) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	for i := range dx {
		z := float64(x[i])
		t := math.Tanh(geluC * (z + float64(geluA*z*z*z)))
		d := 0.5*(1+t) + float64(0.5*z*(1-float64(t*t))*geluC*(1+float64(3*geluA*z*z)))
		dx[i] = T(float64(dy[i]) * d)
	}
}
