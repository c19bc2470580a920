// Package subtensor connects bistro to a Bittensor chain. Local is an
// in-process chain that implements bistro.Chain for tests and the local
// network; the contract suite in subtensor/chaintest holds it, and the
// Subtensor client, to the same behaviour.
//
// # Smallest use
//
//	opts := subtensor.DefaultLocalOptions()
//	opts.Subnets[0].Tempo = 10
//	chain, err := subtensor.NewLocal(opts)
//	if err != nil { … }
//	defer chain.Close()
//	uid, err := chain.Register(ctx, 1, key.Hotkey())
//	s, err := chain.Subscribe(ctx) // one stream per participant, before Run
//	go chain.Run(ctx)
//	for {
//		head, err := s.Next(ctx) // acknowledges the previous head
//		if err != nil { … }
//		// all the work head triggers, then loop
//	}
//
// # Lockstep
//
// By default Local is in lockstep: block n+1 is produced only once every
// open stream has acknowledged block n, by calling Next again or Close. A
// new stream starts at the head of the moment and holds the chain there
// until it acknowledges it; a closed or dropped stream never holds it. Next
// returns every block in order, none skipped. Run produces blocks while at
// least one stream is open; Step and Advance produce a given number, also
// waiting for acknowledgements, and return at once when no stream is open.
// The last acknowledgement of a block produces the next one on the
// acknowledging goroutine, so a block costs one wake-up per participant and
// no scheduler round trip through a producer. With RealTime a ticker makes
// blocks instead, whatever the streams do.
//
// # Transactions and reads
//
// A transaction (Register, AddStake, SetStake, Commit, SetWeights) is
// checked against the state including earlier transactions, applied at
// once, and included in block head+1, as an extrinsic submitted now is on a
// real chain. Reads at a block (Neurons, Commitment, Incentive) see produced
// blocks only, so within one lockstep step every participant reads the same
// state in any order. Block m's on_initialize (the epoch when its tempo has
// come) runs when block m−1 is produced, over the state at the end of m−1,
// before any transaction included in m: Subtensor's order.
//
// # What Local does as Subtensor does
//
//   - Block hashes: SHA-256 over "bistro/subtensor/local/block", a seed and
//     the number: unpredictable without the seed, reproducible with it.
//     Finality trails the head by FinalityLag blocks.
//   - Registration: uids are appended until MaxUIDs; then the uid with the
//     lowest emission of the last epoch is replaced, ties broken by the
//     earliest registration block, then the lowest uid, among uids past
//     ImmunityPeriod while more than MinNonImmuneUIDs of them exist, else
//     among the immune ones (get_neuron_to_prune). The new holder starts
//     with no weights, no permit, no incentive, and others' weights on the
//     uid are zeroed.
//   - Validator permits: at each epoch the MaxValidators uids with the
//     highest non-zero stake (is_topk_nonzero: stable sort, so among equal
//     stakes the higher uid wins), in force from that epoch on. A uid never
//     has a permit before its first epoch.
//   - set_weights: the checks and order of do_set_weights (see
//     SetWeights); the rate limit counts from registration too (a new uid
//     waits WeightsRateLimit blocks); weights are stored max-upscaled.
//   - Commitments: at most 3 fields of at most 128 bytes, only from
//     registered hotkeys, and a space budget per hotkey per epoch
//     (MaxSpace 3100, 100 at least per commitment). Subtensor has no
//     one-per-N-blocks limit on commitments any more: its RateLimit storage
//     was removed (migrate_remove_commitments_rate_limit).
//   - Epoch every Tempo blocks (the first at block Tempo), original Yuma in
//     epoch_mechanism's order: stake normalized; active stake = stake of
//     permitted validators that set weights within ActivityCutoff blocks,
//     normalized; weights rows of permitted validators without self
//     weights and without weights set before their target registered,
//     normalized to sum 1; consensus per miner = the stake-weighted
//     κ-quantile (weighted_median: the largest weight that validators
//     holding at least κ of the active stake give); weights clipped to the
//     consensus; ranks r_j = Σ_i s_i·w̄_ij; incentive = ranks normalized.
//
// # What is simplified
//
//   - Stake is one number per hotkey, on every subnet, moved only by
//     AddStake and SetStake: no coldkeys, no alpha/TAO pools and swaps, no
//     stake weight of TAO vs alpha, no delegation, childkeys or takes, no
//     stake threshold (Subtensor's default is 0 too), no emission paid into
//     stake.
//   - No emission in rao, no burn or registration cost, no owner cut, no
//     subnet owner uid (immortal, always permitted), no root network.
//   - Bonds are not kept: dividends use this epoch's bonds
//     ΔB_ij = s_i·w̄_ij normalized per miner (bonds penalty 1), d_i =
//     Σ_j ΔB_ij·I_j normalized, which is what Subtensor's EMA bonds reach
//     when weights stay put. No bonds moving average, liquid alpha, Yuma3,
//     or bonds reset. The pruning score is incentive + dividends,
//     normalized (Subtensor's Emission, before it is turned into rao).
//   - Arithmetic is float64, not Subtensor's I32F32 fixed point: results
//     agree to about 1e-9 relative, not bit for bit.
//   - No commit-reveal of weights, no max weight limit (Subtensor's default
//     is u16::MAX, no limit), no mechanisms (sub-subnets), no axons.
//   - The epoch runs every Tempo blocks from the subnet's creation; no
//     per-block epoch cap, no owner-triggered epochs.
//   - Only the main chain: no forks, so a head's hash is the hash finality
//     later confirms.
//
// # Faults
//
// FailNext makes a method's next call fail; StallFinality and
// SetFinalityLag move finality; DropStreams ends every stream as a lost
// connection does.
package subtensor
