// Package bistro is the protocol of incentivized decentralized training on
// Bittensor (BISTRO): miners compute one update of a shared model per window
// of chain blocks on the data pages assigned to them and upload a slice of
// it; validators recompute the update on a sample of miners, score them, and
// set weights on chain; the lead validator merges the accepted slices into one
// signed aggregate that everyone applies, so every honest participant holds
// the same model bits.
//
// This package is the protocol and nothing else: the types exchanged, the
// pure derivations every participant must agree on (Params and its digest,
// windows, page assignment, slice selection, commitments, object keys), and
// the small interfaces the rest of the SDK implements — Dataset, Model,
// Trainer, Aggregator, Scorer, Sampler, Ledger, the chain interfaces, and
// Storage. It imports none of its sub-packages: storage/ (mem, dir, s3),
// subtensor/ (the local chain and the Subtensor client) and train/ (trainers)
// import it. SPEC.md states every rule with test vectors.
//
// # The smallest complete use
//
// Load a subnet's Params, then ask which pages a miner trains on in a window
// and which coordinates its slice holds once the seed block is finalized:
//
//	p, err := bistro.LoadParams("params.json")
//	if err != nil { … }
//	win, _ := bistro.NewWindows(&p)
//	pages, _ := bistro.NewPages(&p)
//	slices, _ := bistro.NewSlices(&p)
//
//	w := win.Of(head.Number)                                // the current window
//	ids, _ := pages.Assign(w, hotkey, int(p.PagesPerWindow), p.DatasetPages)
//	seedBlock, _ := win.SeedBlock(w)                        // known only once finalized
//	seed, _ := chain.FinalizedHash(ctx, seedBlock)
//	idx, _ := slices.Select(seed, model.Layout())           // per-tensor coordinates
//
// # Running a participant
//
// A miner and a validator are built from a Config (every dependency
// explicit) and driven by the chain's blocks: Run subscribes and calls Step
// on every head, subscribing again when the stream drops; a test or a local
// network calls Step itself, one head at a time.
//
//	cfg := bistro.Config{Params: &p, Signer: key, Chain: chain, Buckets: buckets,
//		Bucket: mine, Announce: commitment, Trainer: trainer, Dataset: ds, Genesis: theta0}
//	m, err := bistro.NewMiner(cfg, nil) // nil: the honest strategy
//	if err != nil { … }
//	err = m.Run(ctx)                      // until ctx ends
//
//	v, err := bistro.NewValidator(cfg, bistro.ValidatorOptions{StateDir: dir})
//	if err != nil { … }
//	err = v.Run(ctx)
//
// Each window is explicit work. Step does what the head allows and returns;
// a duty that fails (a chain call, an upload, a fetch) is retried at the
// next head until it is done or moot — its deadline finalized for good — and
// is never silently dropped. Step returns an error only when ctx ends or the
// configuration is broken.
//
// # The duties of each role, in the order the code performs them
//
// A miner, at every head, for the current window w:
//  1. bring the replica to base(w): locate the aggregate of w−2 by the
//     failover rule (SPEC.md §9.1) once deadline(w−2) is finalized, check
//     the digest chain and apply it by the outer optimizer (StepState: θ and,
//     under nesterov/v1, the momentum move at the touched indices only) —
//     healing when the network continued
//     from another aggregate, loading a newer checkpoint when far behind;
//  2. compute Δ = −lr(w)·clip(g) on base(w) over its pages (Trainer.Update),
//     once;
//  3. when seed_block(w) is finalized, select the slice coordinates from its
//     hash (SliceSelector), gather Δ at them and sign the slice — once;
//  4. upload the signed bytes to its bucket, again at later heads after a
//     failure, until deadline(w) is finalized.
//
// A validator, for each window w in order, once deadline(w) is finalized:
//  1. bring the replica to base(w) (aggregates, or a newer checkpoint);
//  2. fetch every miner's slice (a transport error is retried for
//     SliceFetchAttempts heads; a missing slice is missing);
//  3. locate the aggregate of w−1, whose base names d(w) — healing first if
//     the replica applied another aggregate of w−2 than the network;
//  4. run the cheap checks on every slice against base(w) (signed, right
//     digests, finite, norm in bounds), recompute Δ for a private random
//     sample and score them (Scorer), recording every result in the Ledger
//     exactly once;
//  5. check the aggregate of w−1 bit for bit against its own slices of w−1
//     (refusing only on proof) and apply it: base(w+1);
//
// then, at every head:
//  6. in its publishing turn for the last window it processed (rank 0, the
//     lead, first; the next ranks in turn when nothing was published): merge
//     the accepted slices with the Aggregator, sign once, upload the used
//     copies, the aggregate and, every K windows, a checkpoint, and read the
//     aggregate back;
//  7. set weights from the Ledger within the chain's rate limit and save the
//     Ledger (a LedgerSaver), retried until done or superseded.
//
// # Time and determinism
//
// Nothing here reads the wall clock: loops take a Clock and the chain's
// BlockStream, whose lockstep contract lets tests step a whole network
// deterministically. Every consensus-critical derivation is a pure function
// of Params, the window, the hotkey and a seed.
package bistro
