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
// # The duties of each role, in order
//
// A miner, each window w:
//  1. compute Δ = −lr(w)·clip(g) on base(w) over its pages (Trainer.Update);
//  2. when seed_block(w) is finalized, select the slice coordinates from its
//     hash (SliceSelector) and gather Δ at them;
//  3. sign the slice file and upload it to its bucket before the deadline;
//  4. apply the lead's aggregate of w−1 to get base(w+1), checking the digest
//     chain.
//
// A validator, each window w:
//  1. when deadline(w) is finalized, fetch every miner's slice and run the
//     cheap checks (present, signed, right digests, finite, norm in bounds);
//  2. recompute Δ for a private random sample of miners and score them
//     (Scorer), recording every result in the Ledger;
//  3. set weights from the Ledger within the chain's rate limit;
//  4. check the lead's aggregate bit for bit before applying it.
//
// The lead, additionally: merge the accepted slices with the Aggregator,
// sign, and publish the aggregate before window w+2 starts; publish a
// checkpoint every K windows.
//
// # Time and determinism
//
// Nothing here reads the wall clock: loops take a Clock and the chain's
// BlockStream, whose lockstep contract lets tests step a whole network
// deterministically. Every consensus-critical derivation is a pure function
// of Params, the window, the hotkey and a seed.
package bistro
