package train

import "unsafe"

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

// geluChunk is how many elements the GELU loops take at a time: their
// float64 scratch stays on the stack.
const geluChunk = 256

// geluForward sets y = gelu(x); y may be x. The tanh of a chunk is taken at
// once (tanhSlice, math.Tanh's bits).
func geluForward[T float](y, x []T) {
	var buf [geluChunk]float64
	x = x[:len(y)]
	var zero T
	for c := 0; c < len(y); {
		if useVecTanh && useAVX512 && unsafe.Sizeof(zero) == 4 && len(y)-c >= 8 {
			// float32 in assembly, eight at a time, then four (groups
			// that hold a NaN, and the tail, below).
			c += geluFwdAVX512((*float32)(unsafe.Pointer(&y[c])), (*float32)(unsafe.Pointer(&x[c])), len(y)-c)
		}
		if useVecTanh && unsafe.Sizeof(zero) == 4 && len(y)-c >= 4 {
			c += geluFwdAVX2((*float32)(unsafe.Pointer(&y[c])), (*float32)(unsafe.Pointer(&x[c])), len(y)-c)
		}
		xs, ys := x[c:min(c+geluChunk, len(x))], y[c:]
		if useVecTanh && unsafe.Sizeof(zero) == 4 {
			xs = xs[:min(len(xs), 4)]
		}
		c += len(xs)
		u := buf[:len(xs)]
		for i, v := range xs {
			z := float64(v)
			u[i] = geluC * (z + float64(geluA*z*z*z))
		}
		tanhSlice(u, u)
		for i, v := range xs {
			z := float64(v)
			ys[i] = T(0.5 * z * (1 + u[i]))
		}
	}
}

// geluBackward sets dx = T(dy · gelu'(x)) from the input x, with
//
//	t = tanh(√(2/π)·(x + 0.044715·x³))
//	gelu'(x) = ½·(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
//
// in float64; dx may be dy.
func geluBackward[T float](dx, dy, x []T) {
	var buf [geluChunk]float64
	dy, x = dy[:len(dx)], x[:len(dx)]
	var zero T
	for c := 0; c < len(dx); {
		if useVecTanh && useAVX512 && unsafe.Sizeof(zero) == 4 && len(dx)-c >= 8 {
			c += geluBwdAVX512((*float32)(unsafe.Pointer(&dx[c])), (*float32)(unsafe.Pointer(&dy[c])),
				(*float32)(unsafe.Pointer(&x[c])), len(dx)-c)
		}
		if useVecTanh && unsafe.Sizeof(zero) == 4 && len(dx)-c >= 4 {
			c += geluBwdAVX2((*float32)(unsafe.Pointer(&dx[c])), (*float32)(unsafe.Pointer(&dy[c])),
				(*float32)(unsafe.Pointer(&x[c])), len(dx)-c)
		}
		xs, dys, dxs := x[c:min(c+geluChunk, len(x))], dy[c:], dx[c:]
		if useVecTanh && unsafe.Sizeof(zero) == 4 {
			xs = xs[:min(len(xs), 4)]
		}
		c += len(xs)
		t := buf[:len(xs)]
		for i, v := range xs {
			z := float64(v)
			t[i] = geluC * (z + float64(geluA*z*z*z))
		}
		tanhSlice(t, t)
		for i, v := range xs {
			z, t := float64(v), t[i]
			d := 0.5*(1+t) + float64(0.5*z*(1-float64(t*t))*geluC*(1+float64(3*geluA*z*z)))
			dxs[i] = T(float64(dys[i]) * d)
		}
	}
}
