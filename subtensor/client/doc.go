// Package client is bistro's Subtensor client: JSON-RPC over one
// websocket (github.com/coder/websocket), with SCALE, storage keys, calls
// and signed extrinsics built from the runtime's own metadata by
// subtensor/scale. A *Client implements bistro.Chain, so the miner and
// validator loops run on finney, the test network or a local node as they
// run on subtensor.Local; both pass the contract suite in
// subtensor/chaintest.
//
// # Smallest use
//
//	c, err := client.Dial(ctx, "finney") // "test", "local" or a ws(s):// URL
//	if err != nil { … }
//	defer c.Close()
//	s, err := c.Subscribe(ctx) // every head, in order, none skipped
//	head, err := s.Next(ctx)
//	neurons, err := c.Neurons(ctx, netuid, head.Number)
//	err = c.Commit(ctx, hotkey, netuid, fields)            // Commitments.set_commitment
//	err = c.SetWeights(ctx, hotkey, netuid, uids, ws, bistro.ProtocolVersion)
//
// # Connection
//
// Calls share one websocket and are answered out of order. Each call is
// bounded by Options.CallTimeout and its context. A broken connection is
// redialled by the next call; reads are retried on the new one
// (Options.Retries), submissions never are. An endpoint that cannot be
// dialled is ErrUnreachable. Block streams renew their subscription after a
// reconnection and return the blocks missed meanwhile, found by parent
// hash, so that Next never skips a block; when the endpoint stays down Next
// returns subtensor.ErrStreamDropped.
//
// # Runtime upgrades
//
// Every read at a block uses the metadata of that block's runtime
// (state_getRuntimeVersion at the block, then the metadata of that spec
// version, read once and kept). The client prefers v16 or v15 metadata
// (Metadata_metadata_at_version), which types the runtime APIs, and falls
// back to v14 (state_getMetadata). Submissions sign with the best block's
// spec and transaction versions, so an upgrade between two submissions is
// followed without a restart.
//
// # Metagraph
//
// Neurons reads SubnetInfoRuntimeApi_get_subnet_state at the block where
// the runtime types it, and storage (Keys, ValidatorPermit, Incentive,
// BlockAtRegistration, TotalHotkeyAlpha) where it does not (runtimes
// before 2025). NeuronsLite reads NeuronInfoRuntimeApi_get_neurons_lite.
//
// # Transactions
//
// Submit signs a call with the hotkey (sr25519; the hotkey pays the fee),
// a mortal era of Options.Mortality blocks and the account's next nonce
// (taken in order per signer), submits it with
// author_submitAndWatchExtrinsic and waits for its block (and finality
// with Options.WaitFinalized). The receipt carries the extrinsic's events;
// System.ExtrinsicFailed becomes a *DispatchError naming the pallet error
// from the metadata, a pool refusal a *TxError. Both wrap the sentinels
// callers match with errors.Is: bistro.ErrRateLimited, the errors of
// package subtensor (ErrNoSubnet, ErrNotRegistered, ErrNoValidatorPermit,
// ErrWeightsVersion, ErrInvalidWeights, ErrCommitmentLimit, …) and this
// package's (ErrInsufficientBalance, ErrCommitRevealEnabled, ErrReveal, …).
// SetWeights and Commit check before sending that the subnet exists and the
// hotkey is registered, so those mistakes cost no fee.
//
// # Commit-reveal
//
// On a subnet with hash-based commit-reveal, SetWeights returns
// ErrCommitRevealEnabled; CommitWeights commits (with a random salt) and
// returns the WeightsCommit to pass to RevealWeights once the chain's
// reveal window (RevealWindow) has come. Subnets that take only drand
// timelocked commits are scale.ErrTimelockedCommitReveal.
//
// # What only a live network shows
//
// The tests run on a recorded finney session (replay) and on a real
// Subtensor runtime under chopsticks (spec 218, offline). What needs the
// live network — current runtime versions' signed extensions and errors,
// GRANDPA finality lag, public endpoints' limits — is checked by
// live_test.go, built only with the tag live:
//
//	BISTRO_LIVE_NETWORK=finney go test -tags live -run Live -v ./subtensor/client/
package client
