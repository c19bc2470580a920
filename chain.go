package bistro

import (
	"context"
	"errors"
	"time"
)

// Head is a block as a participant sees it when it arrives.
type Head struct {
	// Number and Hash identify the block.
	Number Block
	Hash   Hash
	// Time is the block's timestamp (the chain's, not the reader's clock).
	Time time.Time
	// Finalized is the highest finalized block at the time this head was
	// produced (≤ Number).
	Finalized Block
}

// BlockStream delivers the chain's new heads to one participant.
//
// The lockstep contract (DESIGN.md §4): calling Next acknowledges the head it
// returned before, and a chain in lockstep mode produces block n+1 only after
// every open stream has acknowledged block n. A participant therefore does all
// the work a head triggers, then calls Next; it never waits inside a step for
// a later block (it looks again at the next head). A stream on a real chain
// simply returns heads as they come, skipping none: heads missed while the
// participant worked are returned in order.
type BlockStream interface {
	// Next blocks until the head after the last one returned, or ctx ends.
	Next(ctx context.Context) (Head, error)
	// Close releases the stream; a lockstep chain stops waiting for it.
	Close() error
}

// ErrNotFinalized is returned when a finalized block's data is asked for
// before that block is finalized.
var ErrNotFinalized = errors.New("bistro: block not finalized")

// ErrNotFound is returned for a block, neuron, commitment or object that does
// not exist. Storage drivers return it (wrapped) for a missing key.
var ErrNotFound = errors.New("bistro: not found")

// Blocks is the chain's block stream and finalized history.
type Blocks interface {
	// Subscribe opens a stream that starts at the current head.
	Subscribe(ctx context.Context) (BlockStream, error)
	// FinalizedHash returns the hash of block n once it is finalized, and
	// ErrNotFinalized before.
	FinalizedHash(ctx context.Context, n Block) (Hash, error)
}

// Neuron is one uid of a subnet's metagraph.
type Neuron struct {
	UID    UID
	Hotkey Hotkey
	// Stake is the hotkey's total stake in rao.
	Stake uint64
	// ValidatorPermit says whether the neuron may set weights.
	ValidatorPermit bool
	// Incentive is the last epoch's incentive, in [0, 1].
	Incentive float64
	// Registered is the block at which the hotkey took this uid.
	Registered Block
}

// Metagraph reads a subnet's neurons.
type Metagraph interface {
	// Neurons returns the subnet's neurons, sorted by uid, as of block at
	// (stake and permits at that block; the lead is chosen from them).
	Neurons(ctx context.Context, netuid uint16, at Block) ([]Neuron, error)
}

// Commitments publishes and reads the raw commitment fields hotkeys put on
// chain (Subtensor's Commitments pallet: at most MaxCommitmentFields fields
// of at most MaxCommitmentField bytes each).
type Commitments interface {
	// Commit replaces signer's commitment on netuid.
	Commit(ctx context.Context, signer Signer, netuid uint16, fields [][]byte) error
	// Commitment returns hotkey's latest commitment and the block it was
	// made at, or ErrNotFound.
	Commitment(ctx context.Context, netuid uint16, hotkey Hotkey) ([][]byte, Block, error)
}

// ErrRateLimited is returned (wrapped) for a transaction the chain's limits
// refuse for now: weights set again before the rate limit allows, a
// commitment over the space budget of the epoch.
var ErrRateLimited = errors.New("bistro: rate limited")

// Weights sets a validator's weights.
type Weights interface {
	// SetWeights sets signer's weights on netuid: uids and u16 weights of
	// equal length, versionKey the protocol version. It returns
	// ErrRateLimited (wrapped) when called too soon after the last one.
	SetWeights(ctx context.Context, signer Signer, netuid uint16, uids []UID, weights []uint16, versionKey uint64) error
}

// Chain is everything the loops need from a chain. Each loop asks only for
// the parts it uses; a Subtensor client and subtensor.Local implement all.
type Chain interface {
	Blocks
	Metagraph
	Commitments
	Weights
}

// Clock is the only source of wall time in the library; tests inject one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
