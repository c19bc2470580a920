package train

import "math"

// Causal multi-head self-attention of gpt2/v1, as GPT-2's GPT2Attention
// without dropout. The fused projection qkv (n × 3e) = x·c_attn.weight +
// c_attn.bias holds q in columns [0, e), k in [e, 2e) and v in [2e, 3e); head
// h owns columns [h·d, (h+1)·d) of each, d = e / heads. Per head:
//
//	S = q_h · k_hᵀ                                    (n × n, matmul.go's order)
//	P_ij = T(exp(z_ij − m_i) / Σ_{k≤i} exp(z_ik − m_i))   for j ≤ i, else 0
//	       z_ij = float64(S_ij) · (1/√d), m_i = max_{k≤i} z_ik, in float64
//	y_h = P · v_h                                     (n × d)
//
// and y (n × e) holds y_h in columns [h·d, (h+1)·d). The masked products
// P_ij·v with j > i add exact zeros, so y is the sum over j ≤ i alone.

// attnScratch is one goroutine's scratch for attention over up to n rows.
type attnScratch[T float] struct {
	q, k, v, yh []T // n × d
	dq, dk, dv  []T // n × d (backward)
	dp          []T // n × n (backward)
	ex          []float64
}

func newAttnScratch[T float](n, d int, withGrad bool) *attnScratch[T] {
	s := &attnScratch[T]{q: make([]T, n*d), k: make([]T, n*d), v: make([]T, n*d), yh: make([]T, n*d),
		ex: make([]float64, n)}
	if withGrad {
		s.dq, s.dk, s.dv, s.dp = make([]T, n*d), make([]T, n*d), make([]T, n*d), make([]T, n*n)
	}
	return s
}

// gatherCols sets dst (n × w) to columns [off, off+w) of src (n rows of
// stride).
func gatherCols[T float](dst, src []T, n, stride, off, w int) {
	for i := range n {
		copy(dst[i*w:(i+1)*w], src[i*stride+off:i*stride+off+w])
	}
}

// scatterCols sets columns [off, off+w) of dst (n rows of stride) to src
// (n × w).
func scatterCols[T float](dst, src []T, n, stride, off, w int) {
	for i := range n {
		copy(dst[i*stride+off:i*stride+off+w], src[i*w:(i+1)*w])
	}
}

// attentionForward sets y (n × e) from qkv (n × 3e) with nh heads; att
// (nh × n × n) receives each head's P for the backward pass.
func attentionForward[T float](s *attnScratch[T], mm *matmul[T], y, att, qkv []T, n, e, nh int) {
	d := e / nh
	scale := 1 / math.Sqrt(float64(d))
	q, k, v, yh := s.q[:n*d], s.k[:n*d], s.v[:n*d], s.yh[:n*d]
	for h := range nh {
		gatherCols(q, qkv, n, 3*e, h*d, d)
		gatherCols(k, qkv, n, 3*e, e+h*d, d)
		gatherCols(v, qkv, n, 3*e, 2*e+h*d, d)
		p := att[h*n*n : (h+1)*n*n]
		mm.nt(p, q, k, n, d, n)
		causalSoftmax(p, s.ex, n, scale)
		mm.nn(yh, p, v, n, n, d)
		scatterCols(y, yh, n, e, h*d, d)
	}
}

// causalSoftmax turns the scores S (n × n) into P in place: row i is the
// softmax of S_ij·scale over j ≤ i (see above), zero for j > i.
func causalSoftmax[T float](p []T, ex []float64, n int, scale float64) {
	for i := range n {
		row := p[i*n : (i+1)*n]
		m := math.Inf(-1)
		for j := range i + 1 {
			m = max(m, float64(row[j])*scale)
		}
		e := ex[:i+1]
		for j := range e {
			e[j] = float64(float64(row[j])*scale) - m
		}
		expSlice(e, e)
		var sum float64
		for _, v := range e {
			sum += v
		}
		for j := range i + 1 {
			row[j] = T(ex[j] / sum)
		}
		clear(row[i+1:])
	}
}

// attentionBackward sets dqkv (n × 3e) from dy (n × e), the heads' P in att
// and qkv. Per head:
//
//	dP = dy_h · v_hᵀ,  dv_h = Pᵀ · dy_h
//	dS_ij = T(P_ij · (dP_ij − Σ_{k≤i} P_ik·dP_ik) · (1/√d))  for j ≤ i, else 0
//	                                                 (float64, sums ascending)
//	dq_h = dS · k_h,   dk_h = dSᵀ · q_h
func attentionBackward[T float](s *attnScratch[T], mm *matmul[T], dqkv, dy, att, qkv []T, n, e, nh int) {
	d := e / nh
	scale := 1 / math.Sqrt(float64(d))
	q, k, v, dyh := s.q[:n*d], s.k[:n*d], s.v[:n*d], s.yh[:n*d]
	dq, dk, dv, dp := s.dq[:n*d], s.dk[:n*d], s.dv[:n*d], s.dp[:n*n]
	for h := range nh {
		gatherCols(q, qkv, n, 3*e, h*d, d)
		gatherCols(k, qkv, n, 3*e, e+h*d, d)
		gatherCols(v, qkv, n, 3*e, 2*e+h*d, d)
		gatherCols(dyh, dy, n, e, h*d, d)
		p := att[h*n*n : (h+1)*n*n]
		mm.nt(dp, dyh, v, n, d, n)
		mm.tn(dv, p, dyh, n, n, d)
		causalSoftmaxBackward(dp, p, n, scale)
		mm.nn(dq, dp, k, n, n, d)
		mm.tn(dk, dp, q, n, n, d)
		scatterCols(dqkv, dq, n, 3*e, h*d, d)
		scatterCols(dqkv, dk, n, 3*e, e+h*d, d)
		scatterCols(dqkv, dv, n, 3*e, 2*e+h*d, d)
	}
}

// causalSoftmaxBackward turns dP (n × n) into the gradient of the scores S
// in place, given P.
func causalSoftmaxBackward[T float](dp, p []T, n int, scale float64) {
	for i := range n {
		dr, pr := dp[i*n:(i+1)*n], p[i*n:(i+1)*n]
		var dot float64
		for j := range i + 1 {
			dot += float64(float64(pr[j]) * float64(dr[j]))
		}
		for j := range i + 1 {
			dr[j] = T(float64(pr[j]) * (float64(dr[j]) - dot) * scale)
		}
		clear(dr[i+1:])
	}
}
