package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/scale"
)

// registration reads, at the best block, whether netuid exists, the uid
// of hotkey on it, and the storage values of extra entries keyed by netuid.
func (c *Client) registration(ctx context.Context, md *scale.Metadata, netuid uint16, hotkey bistro.Hotkey, extra ...string) (uid uint16, values [][]byte, err error) {
	const p = scale.PalletSubtensor
	added, err := md.StorageKey(p, "NetworksAdded", netuid)
	if err != nil {
		return 0, nil, err
	}
	uk, err := md.StorageKey(p, "Uids", netuid, hotkey[:])
	if err != nil {
		return 0, nil, err
	}
	keys := [][]byte{added, uk}
	for _, e := range extra {
		k, err := md.StorageKey(p, e, netuid)
		if err != nil {
			return 0, nil, err
		}
		keys = append(keys, k)
	}
	vals, err := c.StorageMany(ctx, keys, bistro.Hash{})
	if err != nil {
		return 0, nil, err
	}
	av, err := md.DecodeStorage(p, "NetworksAdded", vals[0])
	if err != nil {
		return 0, nil, err
	}
	if ok, _ := av.(bool); !ok {
		return 0, nil, errNoSubnet(netuid)
	}
	if vals[1] == nil {
		return 0, nil, fmt.Errorf("hotkey %s on netuid %d: %w", hotkey, netuid, subtensor.ErrNotRegistered)
	}
	v, err := md.DecodeStorage(p, "Uids", vals[1])
	if err != nil {
		return 0, nil, err
	}
	u, _ := uintOf(v)
	return uint16(u), vals[2:], nil
}

// commitmentLimit is the most fields a commitment may have: the runtime's
// Commitments.MaxFields constant where the metadata has it (1 on older
// runtimes), else bistro.MaxCommitmentFields.
func commitmentLimit(md *scale.Metadata) int {
	k, err := md.Constant(scale.PalletCommitments, "MaxFields")
	if err != nil {
		return bistro.MaxCommitmentFields
	}
	v, err := md.Types.Decode(k.Type, k.Value)
	if err != nil {
		return bistro.MaxCommitmentFields
	}
	n, ok := uintOf(v)
	if !ok {
		return bistro.MaxCommitmentFields
	}
	return int(min(n, bistro.MaxCommitmentFields))
}

// Commit replaces signer's commitment on netuid with fields
// (Commitments.set_commitment, each field Data::Raw) and returns once a
// block includes it. Too many fields for the runtime, or a field over
// bistro.MaxCommitmentField bytes, is subtensor.ErrCommitmentLimit before
// anything is sent; an unregistered hotkey subtensor.ErrNotRegistered; a
// commitment within the runtime's rate limit bistro.ErrRateLimited.
func (c *Client) Commit(ctx context.Context, signer bistro.Signer, netuid uint16, fields [][]byte) error {
	_, err := c.CommitReceipt(ctx, signer, netuid, fields)
	return err
}

// CommitReceipt is Commit returning the receipt.
func (c *Client) CommitReceipt(ctx context.Context, signer bistro.Signer, netuid uint16, fields [][]byte) (*Receipt, error) {
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return nil, err
	}
	if limit := commitmentLimit(md); len(fields) > limit {
		return nil, fmt.Errorf("%w: %d fields, the runtime takes at most %d", subtensor.ErrCommitmentLimit, len(fields), limit)
	}
	for i, f := range fields {
		if len(f) > bistro.MaxCommitmentField {
			return nil, fmt.Errorf("%w: field %d has %d bytes > %d", subtensor.ErrCommitmentLimit, i, len(f), bistro.MaxCommitmentField)
		}
	}
	if _, _, err := c.registration(ctx, md, netuid, signer.Hotkey()); err != nil {
		return nil, fmt.Errorf("subtensor/client: commit: %w", err)
	}
	return c.Submit(ctx, signer, func(md *scale.Metadata) ([]byte, error) {
		return md.SetCommitmentCall(netuid, fields)
	})
}

// Commitment returns hotkey's latest commitment on netuid at the best
// block and the block it was made at, or bistro.ErrNotFound. Fields other
// than Data::Raw (hashes) are bistro.ErrBadCommitment.
func (c *Client) Commitment(ctx context.Context, netuid uint16, hotkey bistro.Hotkey) ([][]byte, bistro.Block, error) {
	head, err := c.BestHeader(ctx)
	if err != nil {
		return nil, 0, err
	}
	md, err := c.Metadata(ctx, head.Hash)
	if err != nil {
		return nil, 0, err
	}
	key, err := md.StorageKey(scale.PalletCommitments, "CommitmentOf", netuid, hotkey[:])
	if err != nil {
		return nil, 0, err
	}
	b, err := c.Storage(ctx, key, head.Hash)
	if err != nil {
		return nil, 0, err
	}
	if b == nil {
		return nil, 0, fmt.Errorf("subtensor/client: commitment of %s on netuid %d: %w", hotkey, netuid, bistro.ErrNotFound)
	}
	v, err := md.DecodeStorage(scale.PalletCommitments, "CommitmentOf", b)
	if err != nil {
		return nil, 0, err
	}
	return decodeRegistration(v)
}

// decodeRegistration reads Registration{deposit, block, info{fields}}.
func decodeRegistration(v scale.Value) ([][]byte, bistro.Block, error) {
	reg, ok := v.(scale.Composite)
	if !ok {
		return nil, 0, decodeErr("CommitmentOf: %T", v)
	}
	bv, _ := reg.Get("block")
	block, _ := uintOf(bv)
	iv, _ := reg.Get("info")
	info, ok := iv.(scale.Composite)
	if !ok {
		return nil, 0, decodeErr("CommitmentOf: info %T", iv)
	}
	fv, _ := info.Get("fields")
	list, ok := listOf(fv)
	if !ok {
		return nil, 0, decodeErr("CommitmentOf: fields %T", fv)
	}
	out := make([][]byte, 0, len(list))
	for i, f := range list {
		d, ok := f.(*scale.VariantValue)
		if !ok {
			return nil, 0, decodeErr("commitment field %d: %T", i, f)
		}
		switch {
		case d.Name == "None":
			out = append(out, []byte{})
		case len(d.Name) > 3 && d.Name[:3] == "Raw":
			var raw []byte
			if len(d.Fields) == 1 {
				raw, _ = d.Fields[0].Value.([]byte)
			}
			out = append(out, append([]byte{}, raw...))
		default:
			return nil, 0, fmt.Errorf("%w: field %d is Data::%s, want Raw", bistro.ErrBadCommitment, i, d.Name)
		}
	}
	return out, bistro.Block(block), nil
}

// SetWeights sets signer's weights on netuid (SubtensorModule.set_weights
// with versionKey) and returns once a block includes them. Before sending
// it checks that the subnet exists (subtensor.ErrNoSubnet), that the
// hotkey holds a uid on it (subtensor.ErrNotRegistered) and that the
// subnet takes set_weights (ErrCommitRevealEnabled under hash
// commit-reveal: use CommitWeights; scale.ErrTimelockedCommitReveal under
// drand commit-reveal). The chain's refusals come back as *DispatchError
// wrapping bistro.ErrRateLimited, subtensor.ErrNoValidatorPermit,
// subtensor.ErrWeightsVersion, subtensor.ErrInvalidWeights, ….
func (c *Client) SetWeights(ctx context.Context, signer bistro.Signer, netuid uint16, uids []bistro.UID, weights []uint16, versionKey uint64) error {
	if len(uids) != len(weights) {
		return fmt.Errorf("%w: %d uids, %d weights", subtensor.ErrInvalidWeights, len(uids), len(weights))
	}
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return err
	}
	if err := c.weightsPath(ctx, md, netuid, signer.Hotkey(), scale.DirectWeights); err != nil {
		return err
	}
	dests := make([]uint16, len(uids))
	for i, u := range uids {
		dests[i] = uint16(u)
	}
	_, err = c.Submit(ctx, signer, func(md *scale.Metadata) ([]byte, error) {
		return md.SetWeightsCall(netuid, dests, weights, versionKey)
	})
	return err
}

// WeightsPath says how hotkey's weights reach netuid now: set_weights
// (scale.DirectWeights) or hash commit-reveal (scale.HashCommitReveal). A
// subnet whose commit-reveal needs drand timelock encryption is
// scale.ErrTimelockedCommitReveal; a hotkey without a uid there is
// subtensor.ErrNotRegistered. Operators check it at start.
func (c *Client) WeightsPath(ctx context.Context, netuid uint16, hotkey bistro.Hotkey) (scale.WeightsPath, error) {
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return 0, err
	}
	return c.weightsPathOf(ctx, md, netuid, hotkey)
}

func (c *Client) weightsPathOf(ctx context.Context, md *scale.Metadata, netuid uint16, hotkey bistro.Hotkey) (scale.WeightsPath, error) {
	var extra []string
	if _, err := md.StorageEntry(scale.PalletSubtensor, "CommitRevealWeightsEnabled"); err == nil {
		extra = append(extra, "CommitRevealWeightsEnabled")
	}
	_, vals, err := c.registration(ctx, md, netuid, hotkey, extra...)
	if err != nil {
		return 0, fmt.Errorf("subtensor/client: weights: %w", err)
	}
	cr := false
	if len(vals) == 1 {
		if cr, err = md.CommitRevealEnabled(vals[0]); err != nil {
			return 0, err
		}
	}
	return md.WeightsPathFor(netuid, cr)
}

// weightsPath checks registration and that the subnet takes weights the
// way want says.
func (c *Client) weightsPath(ctx context.Context, md *scale.Metadata, netuid uint16, hotkey bistro.Hotkey, want scale.WeightsPath) error {
	path, err := c.weightsPathOf(ctx, md, netuid, hotkey)
	if err != nil {
		return err
	}
	if path != want {
		if path == scale.HashCommitReveal {
			return fmt.Errorf("netuid %d: %w", netuid, ErrCommitRevealEnabled)
		}
		return fmt.Errorf("netuid %d: %w", netuid, ErrCommitRevealDisabled)
	}
	return nil
}

// WeightsCommit is a hash commitment to weights, kept until it is
// revealed.
type WeightsCommit struct {
	Netuid     uint16
	Hotkey     bistro.Hotkey
	UIDs       []uint16
	Weights    []uint16
	Salt       []uint16
	VersionKey uint64
	// Hash is what was committed (scale.WeightsCommitHash); Block the
	// block that included the commit.
	Hash  [32]byte
	Block bistro.Block
}

// CommitWeights commits to weights on a subnet with hash-based
// commit-reveal (SubtensorModule.commit_weights with a fresh random salt)
// and returns the commitment to reveal later with RevealWeights, within
// the subnet's reveal period. On a subnet with commit-reveal off it is
// ErrCommitRevealDisabled.
func (c *Client) CommitWeights(ctx context.Context, signer bistro.Signer, netuid uint16, uids []bistro.UID, weights []uint16, versionKey uint64) (*WeightsCommit, error) {
	if len(uids) != len(weights) {
		return nil, fmt.Errorf("%w: %d uids, %d weights", subtensor.ErrInvalidWeights, len(uids), len(weights))
	}
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return nil, err
	}
	if err := c.weightsPath(ctx, md, netuid, signer.Hotkey(), scale.HashCommitReveal); err != nil {
		return nil, err
	}
	wc := &WeightsCommit{Netuid: netuid, Hotkey: signer.Hotkey(), Weights: append([]uint16(nil), weights...), VersionKey: versionKey}
	for _, u := range uids {
		wc.UIDs = append(wc.UIDs, uint16(u))
	}
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	for i := 0; i < len(salt); i += 2 {
		wc.Salt = append(wc.Salt, binary.LittleEndian.Uint16(salt[i:]))
	}
	wc.Hash = scale.WeightsCommitHash(wc.Hotkey, netuid, wc.UIDs, wc.Weights, wc.Salt, versionKey)
	rc, err := c.Submit(ctx, signer, func(md *scale.Metadata) ([]byte, error) {
		return md.CommitWeightsCall(netuid, wc.Hash)
	})
	if err != nil {
		return nil, err
	}
	wc.Block = rc.BlockNumber
	return wc, nil
}

// RevealWeights reveals a commitment made by CommitWeights
// (SubtensorModule.reveal_weights). Too early, too late or unknown
// commitments are ErrReveal.
func (c *Client) RevealWeights(ctx context.Context, signer bistro.Signer, wc *WeightsCommit) error {
	if signer.Hotkey() != wc.Hotkey {
		return fmt.Errorf("subtensor/client: reveal: commitment of %s, signer %s", wc.Hotkey, signer.Hotkey())
	}
	_, err := c.Submit(ctx, signer, func(md *scale.Metadata) ([]byte, error) {
		return md.RevealWeightsCall(wc.Netuid, wc.UIDs, wc.Weights, wc.Salt, wc.VersionKey)
	})
	return err
}

// RevealWindow returns the first and last block in which the chain takes
// the reveal of wc, as it recorded them with the commit
// (SubtensorModule.WeightCommits: hash, commit block, first and last
// reveal block). A commitment the chain no longer holds is ErrReveal.
func (c *Client) RevealWindow(ctx context.Context, wc *WeightsCommit) (first, last bistro.Block, err error) {
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return 0, 0, err
	}
	key, err := md.StorageKey(scale.PalletSubtensor, "WeightCommits", wc.Netuid, wc.Hotkey[:])
	if err != nil {
		return 0, 0, err
	}
	b, err := c.Storage(ctx, key, bistro.Hash{})
	if err != nil {
		return 0, 0, err
	}
	v, err := md.DecodeStorage(scale.PalletSubtensor, "WeightCommits", b)
	if err != nil {
		return 0, 0, err
	}
	list, _ := listOf(v)
	for _, item := range list {
		tuple, _ := item.([]scale.Value)
		if len(tuple) < 4 {
			return 0, 0, decodeErr("WeightCommits entry of %d fields", len(tuple))
		}
		h, ok := accountID(tuple[0])
		if !ok || [32]byte(h) != wc.Hash {
			continue
		}
		f, ok1 := uintOf(tuple[2])
		l, ok2 := uintOf(tuple[3])
		if !ok1 || !ok2 {
			return 0, 0, decodeErr("WeightCommits reveal blocks")
		}
		return bistro.Block(f), bistro.Block(l), nil
	}
	return 0, 0, fmt.Errorf("%w: no commitment %x of %s on netuid %d", ErrReveal, wc.Hash, wc.Hotkey, wc.Netuid)
}

// Weights returns the weights validator uid has on netuid at the best
// block (SubtensorModule.Weights), as the chain stores them: target uid →
// u16 weight, normalized by the chain. A uid that set none has an empty
// map.
func (c *Client) Weights(ctx context.Context, netuid uint16, uid bistro.UID) (map[bistro.UID]uint16, error) {
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return nil, err
	}
	key, err := md.StorageKey(scale.PalletSubtensor, "Weights", netuid, uint16(uid))
	if err != nil {
		return nil, err
	}
	b, err := c.Storage(ctx, key, bistro.Hash{})
	if err != nil {
		return nil, err
	}
	out := map[bistro.UID]uint16{}
	if b == nil {
		return out, nil
	}
	v, err := md.DecodeStorage(scale.PalletSubtensor, "Weights", b)
	if err != nil {
		return nil, err
	}
	list, ok := listOf(v)
	if !ok {
		return nil, decodeErr("Weights: %T", v)
	}
	for i, e := range list {
		var pair []scale.Value
		switch x := e.(type) {
		case []scale.Value:
			pair = x
		case scale.Composite:
			for _, f := range x {
				pair = append(pair, f.Value)
			}
		}
		var to, w uint64
		ok := len(pair) == 2
		if ok {
			to, ok = uintOf(pair[0])
		}
		if ok {
			w, ok = uintOf(pair[1])
		}
		if !ok || to > 0xffff || w > 0xffff {
			return nil, decodeErr("Weights entry %d: %v", i, e)
		}
		out[bistro.UID(to)] = uint16(w)
	}
	return out, nil
}
