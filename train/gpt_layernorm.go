package train

import "math"

// LayerNorm over the rows of x (n × e), as GPT-2's nn.LayerNorm(e, eps=1e-5):
// per row, in float64 from the T values, sums in ascending order,
//
//	μ = Σ x_j / e,  σ² = Σ (x_j − μ)² / e,  r = 1 / √(σ² + ε)
//	x̂_j = T((x_j − μ) · r)
//	y_j = T(T(x̂_j · w_j) + b_j)
//
// math.Sqrt is correctly rounded, so the statistics are the same bits on
// every platform. x̂ and r are kept for the backward pass.
func layerNormForward[T float](y, xhat []T, rstd []float64, x, w, b []T, n, e int) {
	for i := range n {
		xr := x[i*e : (i+1)*e]
		var sum float64
		for _, v := range xr {
			sum += float64(v)
		}
		mu := sum / float64(e)
		var sq float64
		for _, v := range xr {
			dv := float64(v) - mu
			sq += float64(dv * dv)
		}
		r := 1 / math.Sqrt(sq/float64(e)+GPTLayerNormEps)
		rstd[i] = r
		hr, yr := xhat[i*e:(i+1)*e], y[i*e:(i+1)*e]
		for j, v := range xr {
			h := T((float64(v) - mu) * r)
			hr[j] = h
			yr[j] = T(h*w[j]) + b[j]
		}
	}
}

// layerNormBackward sets dw_j = Σ_i T(dy_ij · x̂_ij) and db_j = Σ_i dy_ij
// (rows ascending) and adds the gradient of the input into dx:
//
//	g_j = T(dy_j · w_j)
//	a = Σ g_j / e,  c = Σ g_j · x̂_j / e     (float64, ascending)
//	dx_j += T(r · (g_j − a − x̂_j · c))
//
// dx accumulates because LayerNorm reads the residual stream, whose gradient
// also flows around it. g is scratch of e values.
func layerNormBackward[T float](dx, dw, db, g []T, dy, xhat []T, rstd []float64, w []T, n, e int) {
	clear(dw[:e])
	clear(db[:e])
	g = g[:e]
	for i := range n {
		dyr, hr, dxr := dy[i*e:(i+1)*e], xhat[i*e:(i+1)*e], dx[i*e:(i+1)*e]
		var a, c float64
		for j, d := range dyr {
			dw[j] += T(d * hr[j])
			db[j] += d
			g[j] = T(d * w[j])
			a += float64(g[j])
			c += float64(float64(g[j]) * float64(hr[j]))
		}
		a /= float64(e)
		c /= float64(e)
		r := rstd[i]
		for j := range dxr {
			dxr[j] += T(r * (float64(g[j]) - a - float64(float64(hr[j])*c)))
		}
	}
}

// addInto sets x += y element by element (a residual connection).
func addInto[T float](x, y []T) {
	y = y[:len(x)]
	for i := range x {
		x[i] += y[i]
	}
}
