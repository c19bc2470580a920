/*
 * gpt.cu: the kernels of a gpt2/v1 update (package train's GPT) that mlp.cu
 * does not have, each output element computed in the order train computes
 * it (train/gpt_*.go, train/matmul.go): matrix products with strides and a
 * batch index (the heads), LayerNorm, GELU, the causal softmax and their
 * backward passes, the embeddings. The cross-entropy, the loss sums and the
 * final mean, norm and Δ are mlp.cu's (train computes them with the same
 * functions for both models).
 *
 * Same rules as mlp.cu (emu.h): one thread per output element or per row
 * whose sums are sequential, no shared memory.
 */
#include "emu.h"
#include "gomath.h"

/*
 * The three products, batched: for b < nb, C_b (m × n, row stride ldc) from
 * A_b and B_b at a + b·sa, b + b·sb, c + b·sc; each element the sum from zero
 * over p ascending of the rounded products.
 *   nn: C = A·B,   A (m × k, lda), B (k × n, ldb)
 *   nt: C = A·Bᵀ,  A (m × k, lda), B (n × k, ldb)
 *   tn: C = Aᵀ·B,  A (k × m, lda), B (k × n, ldb)
 */
KERNEL gpt_matmul_nn(float *c, const float *a, const float *b, int nb, int m, int k, int n,
		     int lda, int ldb, int ldc, long long sa, long long sb, long long sc)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)nb * m * n) {
		return;
	}
	long long bt = id / ((long long)m * n), r = id % ((long long)m * n);
	long long i = r / n, j = r % n;
	const float *ar = a + bt * sa + i * lda, *bc = b + bt * sb + j;
	float s = 0.0f;
	for (int p = 0; p < k; p++) {
		s = __fadd_rn(s, __fmul_rn(ar[p], bc[(long long)p * ldb]));
	}
	c[bt * sc + i * ldc + j] = s;
}

KERNEL gpt_matmul_nt(float *c, const float *a, const float *b, int nb, int m, int k, int n,
		     int lda, int ldb, int ldc, long long sa, long long sb, long long sc)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)nb * m * n) {
		return;
	}
	long long bt = id / ((long long)m * n), r = id % ((long long)m * n);
	long long i = r / n, j = r % n;
	const float *ar = a + bt * sa + i * lda, *br = b + bt * sb + j * ldb;
	float s = 0.0f;
	for (int p = 0; p < k; p++) {
		s = __fadd_rn(s, __fmul_rn(ar[p], br[p]));
	}
	c[bt * sc + i * ldc + j] = s;
}

KERNEL gpt_matmul_tn(float *c, const float *a, const float *b, int nb, int m, int k, int n,
		     int lda, int ldb, int ldc, long long sa, long long sb, long long sc)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)nb * m * n) {
		return;
	}
	long long bt = id / ((long long)m * n), r = id % ((long long)m * n);
	long long i = r / n, j = r % n;
	const float *ac = a + bt * sa + i, *bc = b + bt * sb + j;
	float s = 0.0f;
	for (int p = 0; p < k; p++) {
		s = __fadd_rn(s, __fmul_rn(ac[(long long)p * lda], bc[(long long)p * ldb]));
	}
	c[bt * sc + i * ldc + j] = s;
}

/* y (m × n) += b (n) per row: the bias after the product. */
KERNEL gpt_add_bias(float *y, const float *b, int m, int n)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)m * n) {
		return;
	}
	y[id] = __fadd_rn(y[id], b[id % n]);
}

/* x += y element by element (a residual connection). */
KERNEL gpt_add(float *x, const float *y, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	x[id] = __fadd_rn(x[id], y[id]);
}

/* db (n) = Σ_r dy[r] over the m rows of dy, from zero, rows ascending. */
KERNEL gpt_bias_grad(float *db, const float *dy, int m, int n)
{
	long long j = GLOBAL_ID();
	if (j >= n) {
		return;
	}
	float s = 0.0f;
	for (int r = 0; r < m; r++) {
		s = __fadd_rn(s, dy[(long long)r * n + j]);
	}
	db[j] = s;
}

/* x (n × e): row i = wte[tokens[start+i]] + wpe[i]. */
KERNEL gpt_embed_forward(float *x, const float *wte, const float *wpe, const int *tokens,
			 int start, int n, int e)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)n * e) {
		return;
	}
	long long i = id / e, j = id % e;
	int t = tokens[start + i];
	x[id] = __fadd_rn(wte[(long long)t * e + j], wpe[id]);
}

/*
 * dwpe (c × e): dx's row i for i < n, zero beyond; dwte (v × e): each
 * element plus dx's elements at the positions holding its token, positions
 * ascending (on top of the head's gradient). Threads: (v + c) · e.
 */
KERNEL gpt_embed_backward(float *dwte, float *dwpe, const float *dx, const int *tokens,
			  int start, int n, int e, int v, int c)
{
	long long id = GLOBAL_ID();
	long long nw = (long long)v * e;
	if (id >= nw + (long long)c * e) {
		return;
	}
	if (id >= nw) {
		long long q = id - nw, i = q / e;
		dwpe[q] = i < n ? dx[q] : 0.0f;
		return;
	}
	int t = (int)(id / e);
	long long j = id % e;
	float s = dwte[id];
	for (int i = 0; i < n; i++) {
		if (tokens[start + i] == t) {
			s = __fadd_rn(s, dx[(long long)i * e + j]);
		}
	}
	dwte[id] = s;
}

/*
 * LayerNorm, one thread per row of x (n × e), in float64: μ = Σx/e,
 * σ² = Σ(x−μ)²/e, r = 1/√(σ²+ε); x̂ = float32((x−μ)·r);
 * y = float32(x̂·w) + b in float32.
 */
KERNEL gpt_layernorm_forward(float *y, float *xhat, double *rstd, const float *x, const float *w,
			     const float *b, int n, int e, double eps)
{
	long long i = GLOBAL_ID();
	if (i >= n) {
		return;
	}
	const float *xr = x + i * e;
	double sum = 0;
	for (int j = 0; j < e; j++) {
		sum = __dadd_rn(sum, (double)xr[j]);
	}
	double mu = __ddiv_rn(sum, (double)e);
	double sq = 0;
	for (int j = 0; j < e; j++) {
		double dv = __dsub_rn((double)xr[j], mu);
		sq = __dadd_rn(sq, __dmul_rn(dv, dv));
	}
	double r = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(__ddiv_rn(sq, (double)e), eps)));
	rstd[i] = r;
	for (int j = 0; j < e; j++) {
		float h = __double2float_rn(__dmul_rn(__dsub_rn((double)xr[j], mu), r));
		xhat[i * e + j] = h;
		y[i * e + j] = __fadd_rn(__fmul_rn(h, w[j]), b[j]);
	}
}

/* LayerNorm's dw_j = Σ_i float32(dy_ij · x̂_ij) and db_j = Σ_i dy_ij, rows
 * ascending from zero: one thread per column. */
KERNEL gpt_layernorm_backward_params(float *dw, float *db, const float *dy, const float *xhat,
				     int n, int e)
{
	long long j = GLOBAL_ID();
	if (j >= e) {
		return;
	}
	float sw = 0.0f, sb = 0.0f;
	for (int i = 0; i < n; i++) {
		float d = dy[(long long)i * e + j];
		sw = __fadd_rn(sw, __fmul_rn(d, xhat[(long long)i * e + j]));
		sb = __fadd_rn(sb, d);
	}
	dw[j] = sw;
	db[j] = sb;
}

/*
 * LayerNorm's input gradient, added into dx, one thread per row: with
 * g_j = float32(dy_j · w_j), a = Σ g_j / e, c = Σ g_j·x̂_j / e (float64,
 * ascending), dx_j += float32(r · (g_j − a − x̂_j·c)).
 */
KERNEL gpt_layernorm_backward_input(float *dx, const float *dy, const float *xhat, const double *rstd,
				    const float *w, int n, int e)
{
	long long i = GLOBAL_ID();
	if (i >= n) {
		return;
	}
	const float *dyr = dy + i * e, *hr = xhat + i * e;
	float *dxr = dx + i * e;
	double a = 0, c = 0;
	for (int j = 0; j < e; j++) {
		double g = (double)__fmul_rn(dyr[j], w[j]);
		a = __dadd_rn(a, g);
		c = __dadd_rn(c, __dmul_rn(g, (double)hr[j]));
	}
	a = __ddiv_rn(a, (double)e);
	c = __ddiv_rn(c, (double)e);
	double r = rstd[i];
	for (int j = 0; j < e; j++) {
		double g = (double)__fmul_rn(dyr[j], w[j]);
		double t = __dsub_rn(__dsub_rn(g, a), __dmul_rn((double)hr[j], c));
		dxr[j] = __fadd_rn(dxr[j], __double2float_rn(__dmul_rn(r, t)));
	}
}

/* GELU's tanh argument √(2/π)·(x + 0.044715·x³), as train computes it. */
DEVICE double gelu_arg(double z)
{
	const double C = 0.7978845608028654, A = 0.044715;
	return __dmul_rn(C, __dadd_rn(z, __dmul_rn(__dmul_rn(__dmul_rn(A, z), z), z)));
}

/* y = float32(½·x·(1 + tanh(…))); y may be x. */
KERNEL gpt_gelu_forward(float *y, const float *x, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	double z = (double)x[id];
	double u = go_tanh(gelu_arg(z));
	y[id] = __double2float_rn(__dmul_rn(__dmul_rn(0.5, z), __dadd_rn(1.0, u)));
}

/*
 * dx = float32(dy · gelu'(x)), gelu'(x) = ½(1+t) + ½·x·(1−t²)·√(2/π)·(1 +
 * 3·0.044715·x²) in float64 (3·0.044715 folded exactly, as Go's constant
 * arithmetic does); dx may be dy.
 */
KERNEL gpt_gelu_backward(float *dx, const float *dy, const float *x, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	const double C = 0.7978845608028654, A3 = 0.134145;
	double z = (double)x[id];
	double t = go_tanh(gelu_arg(z));
	double left = __dmul_rn(0.5, __dadd_rn(1.0, t));
	double right = __dmul_rn(__dmul_rn(__dmul_rn(0.5, z), __dsub_rn(1.0, __dmul_rn(t, t))), C);
	right = __dmul_rn(right, __dadd_rn(1.0, __dmul_rn(__dmul_rn(A3, z), z)));
	double d = __dadd_rn(left, right);
	dx[id] = __double2float_rn(__dmul_rn((double)dy[id], d));
}

/*
 * The causal softmax of each head's scores S (nh × n × n) in place, one
 * thread per (head, row i): over j ≤ i, z_j = float64(S_ij)·scale,
 * m = max z_j, P_ij = float32(exp(z_j − m) / Σ exp(z_k − m)), zero for j > i.
 * The exps are computed twice (sum, then quotients): the same bits.
 */
KERNEL gpt_causal_softmax(float *p, int nh, int n, double scale)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)nh * n) {
		return;
	}
	long long i = id % n;
	float *row = p + id * n;
	double m = __longlong_as_double(GO_NEGINF_BITS);
	for (long long j = 0; j <= i; j++) {
		m = go_max(m, __dmul_rn((double)row[j], scale));
	}
	double sum = 0;
	for (long long j = 0; j <= i; j++) {
		sum = __dadd_rn(sum, go_exp(__dsub_rn(__dmul_rn((double)row[j], scale), m)));
	}
	for (long long j = 0; j <= i; j++) {
		double ex = go_exp(__dsub_rn(__dmul_rn((double)row[j], scale), m));
		row[j] = __double2float_rn(__ddiv_rn(ex, sum));
	}
	for (long long j = i + 1; j < n; j++) {
		row[j] = 0.0f;
	}
}

/*
 * dP (nh × n × n) into the scores' gradient in place, given P, one thread
 * per (head, row i): dot = Σ_{j≤i} P_ij·dP_ij (float64, ascending), then
 * dS_ij = float32(P_ij · (dP_ij − dot) · scale) for j ≤ i, zero beyond.
 */
KERNEL gpt_causal_softmax_backward(float *dp, const float *p, int nh, int n, double scale)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)nh * n) {
		return;
	}
	long long i = id % n;
	float *dr = dp + id * n;
	const float *pr = p + id * n;
	double dot = 0;
	for (long long j = 0; j <= i; j++) {
		dot = __dadd_rn(dot, __dmul_rn((double)pr[j], (double)dr[j]));
	}
	for (long long j = 0; j <= i; j++) {
		double v = __dmul_rn(__dmul_rn((double)pr[j], __dsub_rn((double)dr[j], dot)), scale);
		dr[j] = __double2float_rn(v);
	}
	for (long long j = i + 1; j < n; j++) {
		dr[j] = 0.0f;
	}
}
