package subtensor

import (
	"errors"
	"fmt"

	"github.com/bistro-go/bistro"
)

// Errors of the chain, shared by Local and the Subtensor client: each names
// the Subtensor dispatch errors it stands for, so callers match them with
// errors.Is whatever chain they talk to. The protocol-level sentinels
// (bistro.ErrNotFinalized, bistro.ErrNotFound, bistro.ErrRateLimited) are
// returned wrapped as the root package documents.
var (
	// ErrClosed is returned by every method of a closed Local and by Next
	// on a closed stream.
	ErrClosed = errors.New("subtensor: closed")

	// ErrStreamDropped is returned by Next on a stream the chain dropped
	// (a lost websocket; Local.DropStreams). Subscribe again to go on.
	ErrStreamDropped = errors.New("subtensor: block stream dropped")

	// ErrNoSubnet: the netuid does not exist (SubnetNotExists,
	// MechanismDoesNotExist). It wraps bistro.ErrNotFound.
	ErrNoSubnet = fmt.Errorf("subtensor: subnet does not exist: %w", bistro.ErrNotFound)

	// ErrFutureBlock: state was asked for at a block above the head. It
	// wraps bistro.ErrNotFound.
	ErrFutureBlock = fmt.Errorf("subtensor: block not produced yet: %w", bistro.ErrNotFound)

	// ErrNotRegistered: the hotkey holds no uid on the subnet
	// (HotKeyNotRegisteredInSubNet; AccountNotAllowedCommit for commitments).
	ErrNotRegistered = errors.New("subtensor: hotkey not registered on subnet")

	// ErrAlreadyRegistered: the hotkey already holds a uid on the subnet
	// (HotKeyAlreadyRegisteredInSubNet).
	ErrAlreadyRegistered = errors.New("subtensor: hotkey already registered on subnet")

	// ErrNoUIDAvailable: the subnet is full and no uid may be pruned
	// (NoNeuronIdAvailable).
	ErrNoUIDAvailable = errors.New("subtensor: no uid available")

	// ErrNoValidatorPermit: weights on other uids from a neuron without a
	// validator permit (NeuronNoValidatorPermit).
	ErrNoValidatorPermit = errors.New("subtensor: no validator permit")

	// ErrWeightsVersion: a version key below the subnet's WeightsVersionKey
	// (IncorrectWeightVersionKey).
	ErrWeightsVersion = errors.New("subtensor: weights version key below the subnet's")

	// ErrInvalidWeights: malformed weights (WeightVecNotEqualSize,
	// UidsLengthExceedUidsInSubNet, DuplicateUids, UidVecContainInvalidOne,
	// WeightVecLengthIsLow).
	ErrInvalidWeights = errors.New("subtensor: invalid weights")

	// ErrCommitmentLimit: more than bistro.MaxCommitmentFields fields
	// (TooManyFieldsInCommitmentInfo) or a field longer than
	// bistro.MaxCommitmentField bytes (Data::Raw cannot encode it).
	ErrCommitmentLimit = errors.New("subtensor: commitment exceeds the chain's limits")

	// ErrSpaceLimit: the hotkey has used its commitment space for this
	// epoch (SpaceLimitExceeded). Returned wrapped together with
	// bistro.ErrRateLimited.
	ErrSpaceLimit = errors.New("subtensor: commitment space exhausted for this epoch")

	// ErrBadOrigin: the signer's signature does not verify under the
	// hotkey it claims (a transaction with a bad signature is invalid). It
	// wraps bistro.ErrBadSignature.
	ErrBadOrigin = fmt.Errorf("subtensor: bad transaction signature: %w", bistro.ErrBadSignature)
)
