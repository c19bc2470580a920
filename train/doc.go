// Package train holds trainers: implementations of bistro.Trainer, which
// compute a miner's update Δ = −lr·clip(g) of the shared model on its pages
// and let validators recompute it.
//
// MLP trains mlp/v1, a byte-level language model small enough to train on a
// laptop's cores: C context bytes are embedded, concatenated, passed through
// one tanh layer and mapped to logits over the next byte. It is the trainer
// of the local network and of the tests. Package train/data has the offline
// pages it trains on, and train/trainertest the contract suite every trainer
// should pass.
//
// GPT trains gpt2/v1, a GPT-2 decoder (pre-LayerNorm blocks of causal
// multi-head attention and a GELU MLP, LM head tied to the token embedding)
// with the tensor names of Hugging Face's GPT-2 (GPTLayout), forward and
// hand-written backward passes on the CPU, layer by layer in gpt_*.go. Its
// presets are GPTTiny, byte-level, and GPT2Small, the shapes of GPT-2 124M;
// package train/tokens has the byte and GPT-2 BPE tokenizers and
// train/data the token-shard datasets (Manifest) it reads.
//
//	cfg := train.GPTTiny()
//	m, err := train.InitGPT(cfg, seed)
//	tr, err := train.NewGPT(cfg)                    // keeps cfg: heads are not in the layout
//	delta, err := tr.Update(ctx, m, pages, 0.1, 1)
//
// The smallest complete use, one window of a miner that applies its own
// update:
//
//	cfg, err := train.NewMLPConfig(256, 8, 16, 128) // vocab, context, embed, hidden
//	m, err := train.InitMLP(cfg, seed)              // θ₀, drawn from a bistro.Hash
//	var tr train.MLP
//	delta, err := tr.Update(ctx, m, pages, 0.5, 1)  // Δ; m is not changed
//	for t, spec := range delta.Layout() {           // θ += Δ at every index
//		idx := make([]uint32, spec.Len())
//		for i := range idx {
//			idx[i] = uint32(i)
//		}
//		d := make([]float32, len(idx))
//		err = delta.Gather(t, idx, d)
//		err = m.Apply(t, idx, d)
//	}
//	loss, err := tr.Loss(ctx, m, pages)             // mean nats per predicted byte
//
// # Determinism
//
// Validators recompute miners' updates, so an update is a pure function of
// the model, the pages, lr and the clip norm, to the bit, at any GOMAXPROCS.
// The matrix products use this package's own kernels (matmul.go), not
// gorgonia.org/tensor's MatMul: gorgonia (gonum's Sgemm underneath) does give
// the same bits at GOMAXPROCS 1 and 2 on one machine (TestGorgoniaMatMulGOMAXPROCS),
// but its bits depend on the platform — SIMD dot products with several
// accumulators in its amd64 assembly, a plain loop that the compiler fuses
// into FMAs on arm64 — and on the problem size (a serial and a blocked
// parallel path sum in different groupings). Our kernels sum every output
// element from zero in ascending order with each product rounded before it
// is added, which is what the naive triple loop computes on every platform;
// the tests check the blocked kernels against that loop bit for bit. They
// are single-threaded; Update runs micro-batches in parallel and adds their
// gradients in a fixed order. gpt2/v1 follows the same rules: every matrix
// product (linear layers, attention scores and mixing, the tied head) is one
// of these kernels, LayerNorm statistics, softmax and GELU are evaluated in
// float64 with each product that feeds a sum rounded explicitly (so no
// compiler may fuse it into an FMA, GOAMD64=v3 included), and each result is
// rounded to float32 once. gorgonia.org/tensor is therefore not on the
// training path of either model: it appears in tests only, as the reference
// that our kernels agree with to rounding and as a speed baseline of
// BenchmarkMatMul. The float64 elementary functions (math.Exp, math.Log,
// math.Tanh) are not guaranteed to be correctly rounded and Go implements
// some of them in assembly per architecture; their results are rounded to
// float32 before they meet the weights, so bit equality across
// architectures is likely but not guaranteed. On one machine it is
// guaranteed.
//
// # Speed
//
// On amd64 the float32 products run on an assembly register block chosen
// at run time: 8 rows by 32 columns on ZMM registers where the CPU has
// AVX-512F (sgemm512_amd64.s), else 6 rows by 16 columns with AVX2
// (sgemm_amd64.s), both driven by sgemm.go. Each SIMD lane holds a
// different output element, whose terms are still added from zero in
// ascending order, each product rounded by VMULPS before VADDPS adds it,
// never a fused multiply-add, so the bits are the portable kernel's on
// either block (TestSgemmMatchesNaive, TestUpdateBits, which run both). The
// blocks are about ten times as fast as the portable kernel, the AVX-512
// one up to 1.5 times the AVX2 one (BenchmarkSgemmBlock, BenchmarkMatMul's
// asm512 against asm; on AMD Zen 4 it takes A by embedded broadcast, since
// a separate broadcast into a ZMM register takes a slot of the
// floating-point pipes). Where math.Exp takes its FMA path (AVX and FMA),
// exp and tanh of whole rows run as replicas of math's own code
// (vmath_amd64.s: math.Exp's assembly, math.Tanh's polynomial as the
// compiler builds it below GOAMD64=v3), eight lanes at a time with
// AVX-512F, else four, which give math's bits (TestVecMathMatchesMath; a
// check at start turns them off should this Go's math differ); the GELU
// and the softmaxes use them. Update's sums of the sequences' gradients are
// assembly too: the same float64 additions, four elements at a time.
//
// The environment variable BISTRO_NO_AVX512, set to anything but "" or "0"
// when the process starts, keeps the AVX2 kernels on a CPU with AVX-512, so
// that both can be measured on one machine (scripts/bench-train); the bits
// are the same either way. Kernels names the kernels in use. The build tag
// purego turns all assembly off.
//
// The build tag openblas sends the float32 products to OpenBLAS's sgemm
// instead (package train/internal/openblas; cgo and libopenblas-dev, which
// scripts/openblas installs). It is faster on large products, but its
// kernels use fused multiply-adds and blocked sums, so its Δ is not the
// default build's bit for bit: on real pages the relative difference
// ‖Δ_openblas − Δ_default‖/‖Δ_default‖ is about 2e-7 for GPTTiny
// (TestOpenBLASDelta) and 3e-6 for GPT2Small, far inside the scorer's
// tolerance τ = 0.05. It is still deterministic on one machine: OpenBLAS
// runs single-threaded.
//
// scripts/bench-train measures both builds against karpathy/llm.c's CPU
// trainer, fed by package train/llmc.
package train
