#include <stdint.h>

// emu_launch runs the kernel called name over threads emulated threads with
// args, one 8-byte slot per parameter (a pointer, an int sign-extended, a
// double's bits). It returns 0, or -1 for an unknown kernel, -2 for a wrong
// argument count.
int emu_launch(const char *name, long long threads, const uint64_t *args, int nargs);

// The ports of Go's math (gomath.h), for the tests.
double emu_go_exp(double x);
double emu_go_log(double x);
double emu_go_tanh(double x);

// a·b + c in float32 as the kernels write it (__fadd_rn(__fmul_rn(a, b), c)):
// it must not be fused.
float emu_mul_add(float a, float b, float c);
