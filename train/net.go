package train

import "math"

// The layers of mlp/v1 as functions of plain row-major slices, generic so that
// the finite-difference tests run the very same code in float64. Every
// reduction is a sum from zero in ascending index order; every product that
// feeds a sum is rounded to T first (no fused multiply-add).

// embedForward sets row r of x (rows × C·E) to the embeddings of in[r],
// in[r+1], …, in[r+C−1] side by side (oldest token first).
func embedForward[T float](x, embed []T, in []int32, rows, c, e int) {
	k := c * e
	for r := range rows {
		xr := x[r*k : (r+1)*k]
		for q := range c {
			t := int(in[r+q])
			copy(xr[q*e:(q+1)*e], embed[t*e:(t+1)*e])
		}
	}
}

// embedBackward adds dx (rows × C·E) into dembed at the tokens embedForward
// read, row by row, position by position.
func embedBackward[T float](dembed, dx []T, in []int32, rows, c, e int) {
	k := c * e
	for r := range rows {
		dxr := dx[r*k : (r+1)*k]
		for q := range c {
			t := int(in[r+q])
			d := dembed[t*e : (t+1)*e]
			s := dxr[q*e : (q+1)*e]
			for i := range d {
				d[i] += s[i]
			}
		}
	}
}

// linearForward sets y (m×n) = x (m×k) · w (k×n) + b (n): the product first,
// then the bias.
func linearForward[T float](mm *matmul[T], y, x, w, b []T, m, k, n int) {
	linearForwardPacked(mm, y, x, w, nil, b, m, k, n)
}

// linearForwardPacked is linearForward with w's packing pw when not nil.
func linearForwardPacked[T float](mm *matmul[T], y, x, w []T, pw *packedB, b []T, m, k, n int) {
	mm.nnPacked(y, x, w, pw, m, k, n)
	for i := range m {
		yr := y[i*n : (i+1)*n]
		for j := range yr {
			yr[j] += b[j]
		}
	}
}

// linearBackward sets dw = xᵀ·dy, db[j] = Σ_i dy[i][j] and, when dx is not
// nil, dx = dy·wᵀ.
func linearBackward[T float](mm *matmul[T], dx, dw, db, dy, x, w []T, m, k, n int) {
	mm.tn(dw, x, dy, k, m, n)
	clear(db[:n])
	for i := range m {
		dyr := dy[i*n : (i+1)*n]
		for j := range dyr {
			db[j] += dyr[j]
		}
	}
	if dx != nil {
		mm.nt(dx, dy, w, m, n, k)
	}
}

// tanhForward sets y = tanh(z), evaluated in float64 and rounded to T; y may
// be z.
func tanhForward[T float](y, z []T) {
	for i, v := range z[:len(y)] {
		y[i] = T(math.Tanh(float64(v)))
	}
}

// tanhBackward sets dz = dy ⊙ (1 − y²) from the output y; dz may be dy.
func tanhBackward[T float](dz, dy, y []T) {
	dy = dy[:len(dz)]
	y = y[:len(dz)]
	for i := range dz {
		dz[i] = T(dy[i] * T(1-T(y[i]*y[i])))
	}
}

// crossEntropy returns Σ_r (log Σ_j exp(l[r][j]) − l[r][target[r]]) over the
// rows of logits (rows × v), in float64, rows ascending. The log-sum-exp is
// taken in float64 around the row's maximum. When dlogits is not nil (it may
// be logits) it receives softmax(l[r]) − onehot(target[r]), rounded to T.
// scratch holds v float64s.
func crossEntropy[T float](dlogits, logits []T, target []int32, v int, scratch []float64) float64 {
	var total float64
	ex := scratch[:v]
	for r, t := range target {
		lr := logits[r*v : (r+1)*v]
		mx := float64(lr[0])
		for _, l := range lr[1:] {
			mx = max(mx, float64(l))
		}
		for j, l := range lr {
			ex[j] = float64(l) - mx
		}
		expSlice(ex, ex)
		var s float64
		for _, e := range ex {
			s += e
		}
		total += mx + math.Log(s) - float64(lr[t])
		if dlogits != nil {
			dr := dlogits[r*v : (r+1)*v]
			for j := range dr {
				dr[j] = T(ex[j] / s)
			}
			dr[t] = T(ex[t]/s - 1)
		}
	}
	return total
}
