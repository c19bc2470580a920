/*
 * mlp.cu: the kernels of an mlp/v1 update (package train's MLP), each output
 * element computed in the order train computes it (train/net.go,
 * train/matmul.go, train/mlp.go), so that the update's bits are the CPU's:
 *
 *  - a matrix product sums every output element from zero in ascending
 *    index order, each product rounded to float32 before it is added;
 *  - tanh, exp and log are Go's (gomath.h), in float64, rounded to float32
 *    once where train rounds them;
 *  - the micro-batch gradients are added into float64 accumulators, divided
 *    by the number of examples and scaled, in float64, as MLP.Update does
 *    (the squared norm between is summed by the host: package launch).
 *
 * One thread per output element (one per row for the softmax, one in all
 * for the loss sum); see emu.h for the rules that let
 * package train/internal/cuda/hostemu run the same source on the host.
 * Matrices are row-major; weights are [in, out]. Sizes are ints, index
 * arithmetic is in long long.
 */
#include "emu.h"
#include "gomath.h"

/* x (rows × c·e): row r is embed[in[r]] ‖ … ‖ embed[in[r+c−1]], in =
 * tokens + start − c. */
KERNEL mlp_embed_forward(float *__restrict__ x, const float *__restrict__ embed,
			 const int *__restrict__ tokens, int start, int rows, int c, int e)
{
	long long id = GLOBAL_ID();
	long long k = (long long)c * e;
	if (id >= rows * k) {
		return;
	}
	long long r = id / k;
	int q = (int)(id % k / e), i = (int)(id % e);
	int t = tokens[start - c + r + q];
	x[id] = embed[(long long)t * e + i];
}

/* y (m × n) = x (m × k) · w (k × n) + b (n): the product, then the bias. */
KERNEL mlp_linear_forward(float *__restrict__ y, const float *__restrict__ x,
			  const float *__restrict__ w, const float *__restrict__ b, int m, int k, int n)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)m * n) {
		return;
	}
	long long i = id / n, j = id % n;
	const float *xr = x + i * k;
	float s = 0.0f;
	for (int p = 0; p < k; p++) {
		s = __fadd_rn(s, __fmul_rn(xr[p], w[(long long)p * n + j]));
	}
	y[id] = __fadd_rn(s, b[j]);
}

/* y = float32(tanh(float64(z))); y may be z. */
KERNEL mlp_tanh_forward(float *y, const float *z, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	y[id] = __double2float_rn(go_tanh((double)z[id]));
}

/*
 * One thread per row r of logits (rows × v), target = tokens + start:
 * loss[r] = max + log Σ_j exp(l_j − max) − l[target], in float64, the exps
 * kept in ex (rows × v float64s, scratch). When dlogits is not null it
 * receives float32(exp_j / Σ) and, at the target, float32(exp/Σ − 1).
 */
KERNEL mlp_cross_entropy(float *__restrict__ dlogits, double *__restrict__ loss,
			 double *__restrict__ ex, const float *__restrict__ logits,
			 const int *__restrict__ tokens, int start, int rows, int v)
{
	long long r = GLOBAL_ID();
	if (r >= rows) {
		return;
	}
	const float *lr = logits + r * v;
	double *er = ex + r * v;
	int t = tokens[start + r];
	double mx = (double)lr[0];
	for (int j = 1; j < v; j++) {
		mx = go_max(mx, (double)lr[j]);
	}
	for (int j = 0; j < v; j++) {
		er[j] = go_exp(__dsub_rn((double)lr[j], mx));
	}
	double s = 0;
	for (int j = 0; j < v; j++) {
		s = __dadd_rn(s, er[j]);
	}
	loss[r] = __dsub_rn(__dadd_rn(mx, go_log(s)), (double)lr[t]);
	if (dlogits != 0) {
		float *dr = dlogits + r * v;
		for (int j = 0; j < v; j++) {
			dr[j] = __double2float_rn(__ddiv_rn(er[j], s));
		}
		dr[t] = __double2float_rn(__dsub_rn(__ddiv_rn(er[t], s), 1.0));
	}
}

/* One thread: *acc += Σ_r loss[r], the sum from zero, r ascending. */
KERNEL mlp_loss_sum(double *acc, const double *loss, int rows)
{
	if (GLOBAL_ID() != 0) {
		return;
	}
	double s = 0;
	for (int r = 0; r < rows; r++) {
		s = __dadd_rn(s, loss[r]);
	}
	acc[0] = __dadd_rn(acc[0], s);
}

/* dw (k × n) = xᵀ · dy, x (m × k), dy (m × n): sums over the rows. */
KERNEL mlp_matmul_tn(float *__restrict__ dw, const float *__restrict__ x,
		     const float *__restrict__ dy, int m, int k, int n)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)k * n) {
		return;
	}
	long long p = id / n, j = id % n;
	float s = 0.0f;
	for (int r = 0; r < m; r++) {
		s = __fadd_rn(s, __fmul_rn(x[(long long)r * k + p], dy[(long long)r * n + j]));
	}
	dw[id] = s;
}

/* db (n) = Σ_r dy[r] over the m rows of dy (m × n). */
KERNEL mlp_bias_grad(float *__restrict__ db, const float *__restrict__ dy, int m, int n)
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

/* dx (m × k) = dy · wᵀ, dy (m × n), w (k × n): sums over the outputs. */
KERNEL mlp_matmul_nt(float *__restrict__ dx, const float *__restrict__ dy,
		     const float *__restrict__ w, int m, int k, int n)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)m * k) {
		return;
	}
	long long r = id / k, p = id % k;
	const float *dyr = dy + r * n, *wp = w + p * n;
	float s = 0.0f;
	for (int j = 0; j < n; j++) {
		s = __fadd_rn(s, __fmul_rn(dyr[j], wp[j]));
	}
	dx[id] = s;
}

/* dz = dy ⊙ (1 − y²) in float32, from tanh's output y; dz may be dy. */
KERNEL mlp_tanh_backward(float *dz, const float *dy, const float *y, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	float yv = y[id];
	dz[id] = __fmul_rn(dy[id], __fsub_rn(1.0f, __fmul_rn(yv, yv)));
}

/*
 * dembed (v × e), one thread per element: the sum from zero of dx's
 * elements at the positions that read it, rows ascending, then positions
 * (oldest first), as train's embedBackward adds them.
 */
KERNEL mlp_embed_backward(float *__restrict__ dembed, const float *__restrict__ dx,
			  const int *__restrict__ tokens, int start, int rows, int c, int e, int v)
{
	long long id = GLOBAL_ID();
	if (id >= (long long)v * e) {
		return;
	}
	int t = (int)(id / e), i = (int)(id % e);
	const int *in = tokens + start - c;
	long long k = (long long)c * e;
	float s = 0.0f;
	for (int r = 0; r < rows; r++) {
		for (int q = 0; q < c; q++) {
			if (in[r + q] == t) {
				s = __fadd_rn(s, dx[r * k + (long long)q * e + i]);
			}
		}
	}
	dembed[id] = s;
}

/* acc += float64(grad), element by element. */
KERNEL mlp_accumulate(double *__restrict__ acc, const float *__restrict__ grad, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	acc[id] = __dadd_rn(acc[id], (double)grad[id]);
}

/* g /= total, element by element. */
KERNEL mlp_mean(double *g, double total, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	g[id] = __ddiv_rn(g[id], total);
}

/* delta = float32(coef · g), element by element. */
KERNEL mlp_delta(float *__restrict__ delta, const double *__restrict__ g, double coef, int n)
{
	long long id = GLOBAL_ID();
	if (id >= n) {
		return;
	}
	delta[id] = __double2float_rn(__dmul_rn(coef, g[id]));
}
