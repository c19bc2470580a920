package scale

import (
	"errors"
	"fmt"

	"github.com/bistro-go/bistro"
)

// The calls bistro makes, named as the metadata names them. Their pallet
// and call indices, and the layout of their arguments, come from the
// metadata of the runtime at hand.
const (
	PalletSubtensor   = "SubtensorModule"
	PalletCommitments = "Commitments"
)

// SetCommitmentCall encodes Commitments.set_commitment(netuid, info) with
// fields as Data::Raw entries of CommitmentInfo, the layout of
// bistro.EncodeCommitmentInfo.
func (md *Metadata) SetCommitmentCall(netuid uint16, fields [][]byte) ([]byte, error) {
	if len(fields) > bistro.MaxCommitmentFields {
		return nil, fmt.Errorf("%w: %d fields > %d", bistro.ErrBadCommitment, len(fields), bistro.MaxCommitmentFields)
	}
	data := make([]Value, len(fields))
	for i, f := range fields {
		if len(f) > bistro.MaxCommitmentField {
			return nil, fmt.Errorf("%w: field %d has %d bytes > %d", bistro.ErrBadCommitment, i, len(f), bistro.MaxCommitmentField)
		}
		data[i] = &VariantValue{Name: fmt.Sprintf("Raw%d", len(f)), Fields: Composite{{Value: f}}}
	}
	return md.EncodeCall(PalletCommitments, "set_commitment", map[string]Value{
		"netuid": netuid,
		"info":   map[string]Value{"fields": data},
	})
}

// CommitmentCall encodes Commitments.set_commitment for a bistro
// commitment, validated first.
func (md *Metadata) CommitmentCall(netuid uint16, c *bistro.Commitment) ([]byte, error) {
	fields, err := c.Fields()
	if err != nil {
		return nil, err
	}
	return md.SetCommitmentCall(netuid, fields)
}

// SetWeightsCall encodes SubtensorModule.set_weights(netuid, dests,
// weights, version_key).
func (md *Metadata) SetWeightsCall(netuid uint16, uids, weights []uint16, versionKey uint64) ([]byte, error) {
	if len(uids) != len(weights) {
		return nil, encodeErr("set_weights: %d uids, %d weights", len(uids), len(weights))
	}
	return md.EncodeCall(PalletSubtensor, "set_weights", map[string]Value{
		"netuid": netuid, "dests": uids, "weights": weights, "version_key": versionKey,
	})
}

// CommitWeightsCall encodes SubtensorModule.commit_weights(netuid,
// commit_hash), the hash from WeightsCommitHash.
func (md *Metadata) CommitWeightsCall(netuid uint16, commitHash [32]byte) ([]byte, error) {
	return md.EncodeCall(PalletSubtensor, "commit_weights", map[string]Value{
		"netuid": netuid, "commit_hash": commitHash,
	})
}

// RevealWeightsCall encodes SubtensorModule.reveal_weights(netuid, uids,
// values, salt, version_key).
func (md *Metadata) RevealWeightsCall(netuid uint16, uids, values, salt []uint16, versionKey uint64) ([]byte, error) {
	if len(uids) != len(values) {
		return nil, encodeErr("reveal_weights: %d uids, %d values", len(uids), len(values))
	}
	return md.EncodeCall(PalletSubtensor, "reveal_weights", map[string]Value{
		"netuid": netuid, "uids": uids, "values": values, "salt": salt, "version_key": versionKey,
	})
}

// WeightsCommitHash is the hash commit_weights commits to and
// reveal_weights checks: BLAKE2b-256 of the SCALE tuple (hotkey, netuid,
// uids, values, salt, version_key) — Subtensor's BlakeTwo256::hash_of for
// the main mechanism, whose storage index is the netuid.
func WeightsCommitHash(hotkey bistro.Hotkey, netuid uint16, uids, values, salt []uint16, versionKey uint64) [32]byte {
	b := make([]byte, 0, 32+2+3*(4+2*len(uids))+8)
	b = append(b, hotkey[:]...)
	b = append(b, byte(netuid), byte(netuid>>8))
	for _, v := range [][]uint16{uids, values, salt} {
		b = AppendCompact(b, uint64(len(v)))
		for _, x := range v {
			b = append(b, byte(x), byte(x>>8))
		}
	}
	for i := 0; i < 8; i++ {
		b = append(b, byte(versionKey>>(8*i)))
	}
	return Blake2b256(b)
}

// ErrTimelockedCommitReveal is returned for a subnet whose weights can only
// go through Subtensor's timelocked commit-reveal (drand, CRv3/CRv4):
// commit-reveal is on and the runtime takes weights only as
// commit_timelocked_weights, revealed by the chain from drand pulses.
// bistro does not implement the timelock encryption.
var ErrTimelockedCommitReveal = errors.New("scale: subnet takes weights only through drand timelocked commit-reveal (commit_timelocked_weights), which bistro does not implement; " +
	"the subnet owner can turn commit-reveal off (hyperparameter commit_reveal_weights_enabled) so that set_weights works")

// WeightsPath is how a validator's weights reach a subnet.
type WeightsPath int

const (
	// DirectWeights: set_weights.
	DirectWeights WeightsPath = iota + 1
	// HashCommitReveal: commit_weights with WeightsCommitHash, then
	// reveal_weights in the reveal period.
	HashCommitReveal
)

func (w WeightsPath) String() string {
	switch w {
	case DirectWeights:
		return "set_weights"
	case HashCommitReveal:
		return "commit_weights/reveal_weights"
	}
	return fmt.Sprintf("WeightsPath(%d)", int(w))
}

// timelockedCalls are the calls of drand timelocked commit-reveal.
var timelockedCalls = []string{"commit_timelocked_weights", "commit_crv3_weights", "commit_timelocked_mechanism_weights", "commit_crv3_mechanism_weights"}

// HasTimelockedCommits reports whether the runtime has drand timelocked
// weight commits (any of commit_timelocked_weights, commit_crv3_weights and
// their mechanism forms).
func (md *Metadata) HasTimelockedCommits() bool {
	for _, c := range timelockedCalls {
		if md.HasCall(PalletSubtensor, c) {
			return true
		}
	}
	return false
}

// WeightsPathFor says how weights reach a subnet, given its
// commit_reveal_weights_enabled hyperparameter (SubtensorModule storage
// CommitRevealWeightsEnabled, see CommitRevealEnabled, or
// get_subnet_hyperparams):
//
//   - commit-reveal off: set_weights (DirectWeights);
//   - on, and the runtime has the hash commits commit_weights and
//     reveal_weights: HashCommitReveal. Subtensor refuses set_weights then
//     (CommitRevealEnabled) but still takes hash commits beside timelocked
//     ones: its epoch reads both WeightCommits and TimelockedWeightCommits;
//   - on, and the runtime takes only timelocked commits:
//     ErrTimelockedCommitReveal.
func (md *Metadata) WeightsPathFor(netuid uint16, commitRevealEnabled bool) (WeightsPath, error) {
	if !commitRevealEnabled {
		if !md.HasCall(PalletSubtensor, "set_weights") {
			return 0, fmt.Errorf("%w: SubtensorModule.set_weights", ErrNotFound)
		}
		return DirectWeights, nil
	}
	if md.HasCall(PalletSubtensor, "commit_weights") && md.HasCall(PalletSubtensor, "reveal_weights") {
		return HashCommitReveal, nil
	}
	if md.HasTimelockedCommits() {
		return 0, fmt.Errorf("netuid %d: %w", netuid, ErrTimelockedCommitReveal)
	}
	return 0, fmt.Errorf("%w: netuid %d has commit-reveal on and the runtime has neither commit_weights/reveal_weights nor timelocked commits", ErrNotFound, netuid)
}

// CommitRevealEnabled decodes the SubtensorModule.CommitRevealWeightsEnabled
// storage value of a subnet (data nil when absent: the default applies).
func (md *Metadata) CommitRevealEnabled(data []byte) (bool, error) {
	v, err := md.DecodeStorage(PalletSubtensor, "CommitRevealWeightsEnabled", data)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, decodeErr("CommitRevealWeightsEnabled is %T, want bool", v)
	}
	return b, nil
}
