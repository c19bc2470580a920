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
// and is about twice as fast on one core (BenchmarkMatMul), but its bits
// depend on the platform — SIMD dot products with several accumulators in
// its amd64 assembly, a plain loop that the compiler fuses into FMAs on
// arm64 — and on the problem size (a serial and a blocked parallel path sum
// in different groupings). Our kernels sum every output element from zero in
// ascending order with each product rounded before it is added, which is
// what the naive triple loop computes on every platform; the tests check the
// blocked kernels against that loop bit for bit. They are single-threaded;
// Update runs micro-batches in parallel and adds their gradients in a fixed
// order. The float64 elementary functions (math.Exp, math.Log, math.Tanh)
// are not guaranteed to be correctly rounded and Go implements some of them
// in assembly per architecture; their results are rounded to float32 before
// they meet the weights, so bit equality across architectures is likely but
// not guaranteed. On one machine it is guaranteed.
package train
