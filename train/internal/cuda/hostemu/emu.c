// The kernels of train/internal/cuda/kernels compiled as host C, and a launcher that
// runs them on the emulated grid of emu.h. Built by cgo with -std=c11 (no
// contraction into fused multiply-adds; see emu.h).
#include <stdint.h>
#include <string.h>

#include "emu.h"
#include "mlp.cu"
#include "gpt.cu"
#include "hostemu.h"

_Thread_local long long emu_gid;

#define F(i) ((float *)(uintptr_t)a[i])
#define D(i) ((double *)(uintptr_t)a[i])
#define I(i) ((int *)(uintptr_t)a[i])
#define N(i) ((int)(int64_t)a[i])
#define R(i) (emu_f64(a[i]))
#define L(i) ((long long)(int64_t)a[i])

static double emu_f64(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	return d;
}

struct emu_kernel {
	const char *name;
	int nargs;
	void (*run)(long long n, const uint64_t *a);
};

static void run_embed_forward(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_embed_forward(F(0), F(1), I(2), N(3), N(4), N(5), N(6)));
}
static void run_linear_forward(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_linear_forward(F(0), F(1), F(2), F(3), N(4), N(5), N(6)));
}
static void run_tanh_forward(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_tanh_forward(F(0), F(1), N(2)));
}
static void run_cross_entropy(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_cross_entropy(F(0), D(1), D(2), F(3), I(4), N(5), N(6), N(7)));
}
static void run_loss_sum(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_loss_sum(D(0), D(1), N(2)));
}
static void run_matmul_tn(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_matmul_tn(F(0), F(1), F(2), N(3), N(4), N(5)));
}
static void run_bias_grad(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_bias_grad(F(0), F(1), N(2), N(3)));
}
static void run_matmul_nt(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_matmul_nt(F(0), F(1), F(2), N(3), N(4), N(5)));
}
static void run_tanh_backward(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_tanh_backward(F(0), F(1), F(2), N(3)));
}
static void run_embed_backward(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_embed_backward(F(0), F(1), I(2), N(3), N(4), N(5), N(6), N(7)));
}
static void run_accumulate(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_accumulate(D(0), F(1), N(2)));
}
static void run_mean(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_mean(D(0), R(1), N(2)));
}
static void run_delta(long long n, const uint64_t *a)
{
	EMU_RUN(n, mlp_delta(F(0), D(1), R(2), N(3)));
}

#define MATMUL_ARGS F(0), F(1), F(2), N(3), N(4), N(5), N(6), N(7), N(8), N(9), L(10), L(11), L(12)
static void run_gpt_matmul_nn(long long n, const uint64_t *a) { EMU_RUN(n, gpt_matmul_nn(MATMUL_ARGS)); }
static void run_gpt_matmul_nt(long long n, const uint64_t *a) { EMU_RUN(n, gpt_matmul_nt(MATMUL_ARGS)); }
static void run_gpt_matmul_tn(long long n, const uint64_t *a) { EMU_RUN(n, gpt_matmul_tn(MATMUL_ARGS)); }
static void run_gpt_add_bias(long long n, const uint64_t *a) { EMU_RUN(n, gpt_add_bias(F(0), F(1), N(2), N(3))); }
static void run_gpt_add(long long n, const uint64_t *a) { EMU_RUN(n, gpt_add(F(0), F(1), N(2))); }
static void run_gpt_bias_grad(long long n, const uint64_t *a) { EMU_RUN(n, gpt_bias_grad(F(0), F(1), N(2), N(3))); }
static void run_gpt_embed_forward(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_embed_forward(F(0), F(1), F(2), I(3), N(4), N(5), N(6)));
}
static void run_gpt_embed_backward(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_embed_backward(F(0), F(1), F(2), I(3), N(4), N(5), N(6), N(7), N(8)));
}
static void run_gpt_layernorm_forward(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_layernorm_forward(F(0), F(1), D(2), F(3), F(4), F(5), N(6), N(7), R(8)));
}
static void run_gpt_layernorm_backward_params(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_layernorm_backward_params(F(0), F(1), F(2), F(3), N(4), N(5)));
}
static void run_gpt_layernorm_backward_input(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_layernorm_backward_input(F(0), F(1), F(2), D(3), F(4), N(5), N(6)));
}
static void run_gpt_gelu_forward(long long n, const uint64_t *a) { EMU_RUN(n, gpt_gelu_forward(F(0), F(1), N(2))); }
static void run_gpt_gelu_backward(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_gelu_backward(F(0), F(1), F(2), N(3)));
}
static void run_gpt_causal_softmax(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_causal_softmax(F(0), N(1), N(2), R(3)));
}
static void run_gpt_causal_softmax_backward(long long n, const uint64_t *a)
{
	EMU_RUN(n, gpt_causal_softmax_backward(F(0), F(1), N(2), N(3), R(4)));
}

static const struct emu_kernel emu_kernels[] = {
	{"mlp_embed_forward", 7, run_embed_forward},
	{"mlp_linear_forward", 7, run_linear_forward},
	{"mlp_tanh_forward", 3, run_tanh_forward},
	{"mlp_cross_entropy", 8, run_cross_entropy},
	{"mlp_loss_sum", 3, run_loss_sum},
	{"mlp_matmul_tn", 6, run_matmul_tn},
	{"mlp_bias_grad", 4, run_bias_grad},
	{"mlp_matmul_nt", 6, run_matmul_nt},
	{"mlp_tanh_backward", 4, run_tanh_backward},
	{"mlp_embed_backward", 8, run_embed_backward},
	{"mlp_accumulate", 3, run_accumulate},
	{"mlp_mean", 3, run_mean},
	{"mlp_delta", 4, run_delta},
	{"gpt_matmul_nn", 13, run_gpt_matmul_nn},
	{"gpt_matmul_nt", 13, run_gpt_matmul_nt},
	{"gpt_matmul_tn", 13, run_gpt_matmul_tn},
	{"gpt_add_bias", 4, run_gpt_add_bias},
	{"gpt_add", 3, run_gpt_add},
	{"gpt_bias_grad", 4, run_gpt_bias_grad},
	{"gpt_embed_forward", 7, run_gpt_embed_forward},
	{"gpt_embed_backward", 9, run_gpt_embed_backward},
	{"gpt_layernorm_forward", 9, run_gpt_layernorm_forward},
	{"gpt_layernorm_backward_params", 6, run_gpt_layernorm_backward_params},
	{"gpt_layernorm_backward_input", 7, run_gpt_layernorm_backward_input},
	{"gpt_gelu_forward", 3, run_gpt_gelu_forward},
	{"gpt_gelu_backward", 4, run_gpt_gelu_backward},
	{"gpt_causal_softmax", 4, run_gpt_causal_softmax},
	{"gpt_causal_softmax_backward", 5, run_gpt_causal_softmax_backward},
};

int emu_launch(const char *name, long long threads, const uint64_t *args, int nargs)
{
	for (size_t i = 0; i < sizeof emu_kernels / sizeof emu_kernels[0]; i++) {
		if (strcmp(emu_kernels[i].name, name) == 0) {
			if (emu_kernels[i].nargs != nargs) {
				return -2;
			}
			emu_kernels[i].run(threads, args);
			return 0;
		}
	}
	return -1;
}

double emu_go_exp(double x) { return go_exp(x); }
double emu_go_log(double x) { return go_log(x); }
double emu_go_tanh(double x) { return go_tanh(x); }
float emu_mul_add(float a, float b, float c) { return __fadd_rn(__fmul_rn(a, b), c); }
