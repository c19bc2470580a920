package subtensor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bistro-go/bistro"
)

// LocalOptions configures a Local chain. Start from DefaultLocalOptions and
// change what the test needs; NewLocal validates them first.
type LocalOptions struct {
	// Clock gives the genesis time when Genesis is zero. It is read once,
	// by NewLocal: block timestamps are Genesis + n × BlockTime, so a run
	// never reads the wall clock again.
	Clock bistro.Clock

	// Genesis is the timestamp of block 0. Zero means Clock.Now() at
	// NewLocal.
	Genesis time.Time

	// BlockTime is the time between blocks' timestamps and, with RealTime,
	// the ticker period. Subtensor: 12 s.
	BlockTime time.Duration

	// RealTime selects the ticker mode: Run produces a block every
	// BlockTime of wall time, whatever the streams do, and streams return
	// heads in order, never skipping one. False (the default) is lockstep:
	// block n+1 is produced only when every open stream has acknowledged
	// block n (see Local).
	RealTime bool

	// FinalityLag is how far finality trails the head: block n's head says
	// Finalized = n − FinalityLag, floored at 0. GRANDPA on Subtensor
	// typically finalizes two blocks behind.
	FinalityLag uint64

	// Seed makes block hashes: hash(n) = SHA-256 over a domain string, Seed
	// and n. The same Seed gives the same hashes; without it they cannot be
	// predicted. Nil draws 32 bytes from crypto/rand.
	Seed []byte

	// VerifySignatures makes Commit and SetWeights sign with the Signer and
	// verify the signature under its hotkey, as a chain checks a
	// transaction's origin. Turn it off for signers that cannot sign
	// sr25519, at the cost of accepting forged origins.
	VerifySignatures bool

	// Subnets are created at genesis. AddSubnet creates more later.
	Subnets []SubnetOptions

	// Logger receives debug records (epochs, registrations). Nil discards.
	Logger *slog.Logger
}

// SubnetOptions are a subnet's hyperparameters, named and defaulted as in
// Subtensor.
type SubnetOptions struct {
	// Netuid identifies the subnet; 0 is the root network, which neither
	// registers neurons nor takes weights here.
	Netuid uint16

	// MaxUIDs is the subnet size (MaxAllowedUids). Subtensor: 256.
	MaxUIDs uint16

	// MaxValidators is K of the validator permits: the K uids with the
	// highest non-zero stake get one at each epoch (MaxAllowedValidators).
	// Subtensor: 128. At most MaxUIDs.
	MaxValidators uint16

	// ImmunityPeriod, in blocks since registration, protects a uid from
	// pruning while others can be pruned. Subtensor: 4096.
	ImmunityPeriod uint64

	// MinNonImmuneUIDs: a non-immune uid is pruned only while more than
	// this many non-immune uids exist; otherwise the best immune candidate
	// is (MinNonImmuneUids). Subtensor: 10. Small test subnets usually want
	// 0, the classic rule.
	MinNonImmuneUIDs uint16

	// Tempo is the number of blocks between epochs; 0 runs no epochs.
	// Subtensor: 360.
	Tempo uint64

	// ActivityCutoff, in blocks: a validator that has not set weights for
	// longer is inactive and its stake does not count in the epoch.
	// Subtensor: 5000 (13.889 × tempo).
	ActivityCutoff uint64

	// WeightsRateLimit is the least number of blocks between two weight
	// settings of one uid, registration counting as one
	// (WeightsSetRateLimit). Subtensor: 100.
	WeightsRateLimit uint64

	// WeightsVersionKey: set_weights with a lower version key is refused;
	// 0 accepts any. Subtensor: 0. Protocol subnets set
	// bistro.ProtocolVersion.
	WeightsVersionKey uint64

	// MinAllowedWeights: a weights vector must name at least
	// min(MinAllowedWeights, subnet size) uids, unless it is a single self
	// weight. Subtensor's initial value, 1024, means "every uid"; subnet
	// owners often lower it.
	MinAllowedWeights uint16

	// Kappa is the stake fraction of the consensus (the weighted-median
	// quantile). Subtensor: 32767/65535, just under 0.5.
	Kappa float64

	// CommitSpace is the commitment bytes a hotkey may use per epoch, each
	// commitment counting at least 100 (MaxSpace). Subtensor: 3100.
	CommitSpace uint64
}

// Subtensor's initial hyperparameters (runtime/src/lib.rs, pallet defaults).
const (
	defaultKappa          = 32767.0 / 65535.0
	minCommitSpaceUsed    = 100
	defaultCommitSpace    = 3100
	defaultMaxUIDs        = 256
	defaultMaxValidators  = 128
	defaultImmunityPeriod = 4096
	defaultMinNonImmune   = 10
	defaultTempo          = 360
	defaultActivityCutoff = 5000
	defaultWeightsRate    = 100
	defaultMinWeights     = 1024
)

// DefaultLocalOptions returns a lockstep chain on the system clock with
// 12-second blocks, finality two blocks behind, signature checks on, and one
// subnet (netuid 1) with Subtensor's default hyperparameters.
func DefaultLocalOptions() LocalOptions {
	return LocalOptions{
		Clock:            bistro.SystemClock{},
		BlockTime:        12 * time.Second,
		FinalityLag:      2,
		VerifySignatures: true,
		Subnets:          []SubnetOptions{DefaultSubnetOptions(1)},
	}
}

// DefaultSubnetOptions returns Subtensor's initial hyperparameters for a new
// subnet netuid.
func DefaultSubnetOptions(netuid uint16) SubnetOptions {
	return SubnetOptions{
		Netuid:            netuid,
		MaxUIDs:           defaultMaxUIDs,
		MaxValidators:     defaultMaxValidators,
		ImmunityPeriod:    defaultImmunityPeriod,
		MinNonImmuneUIDs:  defaultMinNonImmune,
		Tempo:             defaultTempo,
		ActivityCutoff:    defaultActivityCutoff,
		WeightsRateLimit:  defaultWeightsRate,
		WeightsVersionKey: 0,
		MinAllowedWeights: defaultMinWeights,
		Kappa:             defaultKappa,
		CommitSpace:       defaultCommitSpace,
	}
}

// Validate reports every inconsistent value of o, naming the values in
// conflict. It does not change o.
func (o LocalOptions) Validate() error {
	var errs []error
	if o.Clock == nil && o.Genesis.IsZero() {
		errs = append(errs, errors.New("Clock is nil and Genesis is zero: block timestamps need one of them"))
	}
	if o.BlockTime <= 0 {
		errs = append(errs, fmt.Errorf("BlockTime %v: must be > 0", o.BlockTime))
	}
	seen := make(map[uint16]int, len(o.Subnets))
	for i, sn := range o.Subnets {
		if j, dup := seen[sn.Netuid]; dup {
			errs = append(errs, fmt.Errorf("Subnets[%d].Netuid %d: same as Subnets[%d].Netuid", i, sn.Netuid, j))
		}
		seen[sn.Netuid] = i
		if err := sn.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("Subnets[%d]: %w", i, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("subtensor: LocalOptions: %w", errors.Join(errs...))
}

// Validate reports every inconsistent hyperparameter of o, naming the values
// in conflict. It does not change o.
func (o SubnetOptions) Validate() error {
	var errs []error
	if o.Netuid == 0 {
		errs = append(errs, errors.New("Netuid 0 is the root network: pick another"))
	}
	if o.MaxUIDs == 0 {
		errs = append(errs, errors.New("MaxUIDs 0: the subnet could hold no neuron"))
	}
	if o.MaxValidators > o.MaxUIDs {
		errs = append(errs, fmt.Errorf("MaxValidators %d > MaxUIDs %d", o.MaxValidators, o.MaxUIDs))
	}
	if !(o.Kappa > 0 && o.Kappa <= 1) {
		errs = append(errs, fmt.Errorf("Kappa %v: must be in (0, 1]", o.Kappa))
	}
	if o.CommitSpace < minCommitSpaceUsed {
		errs = append(errs, fmt.Errorf("CommitSpace %d < %d, what one commitment uses at least", o.CommitSpace, minCommitSpaceUsed))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("netuid %d: %w", o.Netuid, errors.Join(errs...))
}
