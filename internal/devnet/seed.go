package devnet

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"

	subkey "github.com/vedhavyas/go-subkey/v2"
	"github.com/vedhavyas/go-subkey/v2/sr25519"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/client/clienttest"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/wallet"
)

// funds is every key's free balance: fees for a long run.
const funds = 1_000_000_000_000_000 // 1e6 TAO

type keyset struct {
	owner bistro.Signer
	// hot and cold, by participant, in Participants' order.
	hot, cold []*wallet.Keyfile
}

// deriveKeyfile derives the keyfile of a hard-derived dev URI: its 32-byte
// mini-secret is what btcli stores as secretSeed.
func deriveKeyfile(uri string) (*wallet.Keyfile, error) {
	kp, err := subkey.DeriveKeyPair(sr25519.Scheme{}, uri)
	if err != nil {
		return nil, fmt.Errorf("devnet: derive a key: bad secret URI")
	}
	k, err := wallet.KeyfileFromSeed(kp.Seed())
	if err != nil {
		return nil, fmt.Errorf("devnet: keyfile: %w", err)
	}
	if pub := k.Public(); string(pub[:]) != string(kp.Public()) {
		return nil, fmt.Errorf("devnet: keyfile of a derived key has another public key")
	}
	return k, nil
}

// makeWallets lists the participants and writes their btcli wallets:
// coldkeypub.txt (watch-only: the devnet never needs a coldkey's secret)
// and hotkeys/default, unencrypted.
func (d *Devnet) makeWallets() (*keyset, error) {
	o := d.opts
	root := filepath.Join(o.Dir, "wallets")
	ks := &keyset{}
	owner, err := bistro.KeypairFromURI("//" + o.Seed + "//owner")
	if err != nil {
		return nil, fmt.Errorf("devnet: owner key: %w", err)
	}
	ks.owner = owner
	d.Owner = owner.Hotkey()
	add := func(role Role, i int) error {
		name := fmt.Sprintf("%s%d", role, i)
		hot, err := deriveKeyfile("//" + o.Seed + "//" + name)
		if err != nil {
			return err
		}
		cold, err := deriveKeyfile("//" + o.Seed + "//" + name + "//coldkey")
		if err != nil {
			return err
		}
		w := wallet.New(root, name)
		if err := w.WriteColdkeyPub(cold.Public(), true); err != nil {
			return fmt.Errorf("devnet: wallet %s: %w", name, err)
		}
		if err := w.WriteHotkey(HotkeyName, hot, wallet.WriteOptions{Overwrite: true}); err != nil {
			return fmt.Errorf("devnet: wallet %s: %w", name, err)
		}
		p := Participant{Name: name, Role: role, Hotkey: hot.Public(), Coldkey: cold.Public(), WalletPath: root}
		if role == Validator {
			p.Stake = uint64(o.Validators-i+1) * o.Stake
		}
		d.Participants = append(d.Participants, p)
		ks.hot, ks.cold = append(ks.hot, hot), append(ks.cold, cold)
		return nil
	}
	for i := 1; i <= o.Validators; i++ {
		if err := add(Validator, i); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= o.Miners; i++ {
		if err := add(Miner, i); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// seed funds every key and registers the participants on the subnet by
// writing the storage a registration writes (as subtensor/client's chain
// harness does), sets the hyperparameters the participants need, builds
// a block on it and returns its number.
//
// What set_weights needs at spec 218, each set here: the hotkey registered
// (Uids, Keys, IsNetworkMember), a validator permit (the runtime's epoch
// gives every uid one at every block), version_key ≥ WeightsVersionKey,
// WeightsSetRateLimit blocks since the uid's LastUpdate, commit-reveal off,
// stake ≥ WeightsMinStake. MinAllowedWeights (0) and MaxWeightsLimit
// (65535) of raonet's netuid 1 refuse no normalized weights.
func (d *Devnet) seed(ctx context.Context, ks *keyset) (bistro.Block, error) {
	c, err := d.newClient(ctx)
	if err != nil {
		return 0, fmt.Errorf("devnet: chain client: %w", err)
	}
	defer c.Close()
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return 0, fmt.Errorf("devnet: metadata: %w", err)
	}
	d.md = md
	head, err := c.BestHeader(ctx)
	if err != nil {
		return 0, fmt.Errorf("devnet: head: %w", err)
	}
	netuid := d.NetUID
	read := func(entry string, keys ...scale.Value) (scale.Value, error) {
		k, err := md.StorageKey(scale.PalletSubtensor, entry, keys...)
		if err != nil {
			return nil, err
		}
		b, err := c.Storage(ctx, k, head.Hash)
		if err != nil {
			return nil, err
		}
		return md.DecodeStorage(scale.PalletSubtensor, entry, b)
	}
	if added, err := read("NetworksAdded", netuid); err != nil {
		return 0, fmt.Errorf("devnet: NetworksAdded(%d): %w", netuid, err)
	} else if added != true {
		return 0, fmt.Errorf("devnet: netuid %d does not exist on this chain", netuid)
	}
	nv, err := read("SubnetworkN", netuid)
	if err != nil {
		return 0, fmt.Errorf("devnet: SubnetworkN(%d): %w", netuid, err)
	}
	n0 := int(nv.(uint16))
	maxv, err := read("MaxAllowedUids", netuid)
	if err != nil {
		return 0, fmt.Errorf("devnet: MaxAllowedUids(%d): %w", netuid, err)
	}
	n := n0 + len(d.Participants)
	if n > int(maxv.(uint16)) {
		return 0, fmt.Errorf("devnet: %d participants after %d uids exceed MaxAllowedUids %d", len(d.Participants), n0, maxv)
	}

	s := clienttest.NewSeeder(md)
	fund := func(k bistro.Hotkey) {
		s.Set("System", "Account", map[string]scale.Value{
			"nonce": uint32(0), "consumers": uint32(0), "providers": uint32(1), "sufficients": uint32(0),
			"data": map[string]scale.Value{
				"free": new(big.Int).SetUint64(funds), "reserved": big.NewInt(0),
				"frozen": big.NewInt(0), "flags": new(big.Int).Lsh(big.NewInt(1), 127),
			},
		}, k[:])
	}
	fund(d.Owner)
	for i := range d.Participants {
		p := &d.Participants[i]
		fund(p.Hotkey)
		fund(p.Coldkey)
		p.UID = bistro.UID(n0 + i)
		uid, hk, ck := uint16(p.UID), p.Hotkey, p.Coldkey
		s.Set(scale.PalletSubtensor, "Uids", uid, netuid, hk[:])
		s.Set(scale.PalletSubtensor, "Keys", hk[:], netuid, uid)
		s.Set(scale.PalletSubtensor, "IsNetworkMember", true, hk[:], netuid)
		s.Set(scale.PalletSubtensor, "Owner", ck[:], hk[:])
		s.Set(scale.PalletSubtensor, "BlockAtRegistration", uint64(head.Number), netuid, uid)
		if p.Stake > 0 {
			s.Set(scale.PalletSubtensor, "TotalHotkeyAlpha", p.Stake, hk[:], netuid)
			s.Set(scale.PalletSubtensor, "TotalHotkeyShares", p.Stake, hk[:], netuid)
			s.Set(scale.PalletSubtensor, "Alpha", p.Stake, hk[:], ck[:], netuid)
		}
	}
	s.Set(scale.PalletSubtensor, "SubnetworkN", uint16(n), netuid)
	// The per-uid vectors, extended to n.
	for _, e := range []string{"Active", "Rank", "Trust", "Consensus", "Incentive", "Dividends", "Emission",
		"LastUpdate", "ValidatorTrust", "PruningScores", "ValidatorPermit"} {
		v, err := read(e, netuid)
		if err != nil {
			return 0, fmt.Errorf("devnet: %s(%d): %w", e, netuid, err)
		}
		old, _ := v.([]scale.Value)
		vec := make([]scale.Value, n)
		for i := range vec {
			switch {
			case i < len(old):
				vec[i] = old[i]
			case e == "Active":
				vec[i] = true
			case e == "ValidatorPermit":
				vec[i] = d.Participants[i-n0].Role == Validator
			case e == "Emission" || e == "LastUpdate":
				vec[i] = uint64(0)
			default:
				vec[i] = uint16(0)
			}
		}
		s.Set(scale.PalletSubtensor, e, vec, netuid)
	}
	s.Set(scale.PalletSubtensor, "WeightsSetRateLimit", d.opts.WeightsRateLimit, netuid)
	s.Set(scale.PalletSubtensor, "WeightsVersionKey", d.opts.WeightsVersionKey, netuid)
	s.Set(scale.PalletSubtensor, "CommitRevealWeightsEnabled", false, netuid)
	s.Set(scale.PalletSubtensor, "WeightsMinStake", uint64(0))
	s.Set(scale.PalletSubtensor, "MinAllowedWeights", uint16(0), netuid)
	s.Set(scale.PalletSubtensor, "MaxWeightsLimit", uint16(0xffff), netuid)
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("devnet: seeding: %w", err)
	}
	if err := d.chop.SetStorage(ctx, s.KV()); err != nil {
		return 0, fmt.Errorf("devnet: seeding: %w", err)
	}

	// The commitment rate limit: a constant, enforced through
	// LastCommitment(netuid, account), which the producer deletes after
	// every block unless asked to keep it.
	if rl, err := md.Constant(scale.PalletCommitments, "RateLimit"); err == nil {
		if v, err := md.Types.Decode(rl.Type, rl.Value); err == nil {
			switch x := v.(type) {
			case uint32:
				d.CommitmentRateLimit = uint64(x)
			case uint64:
				d.CommitmentRateLimit = x
			}
		}
	}
	if !d.opts.KeepCommitmentRateLimit {
		cs := clienttest.NewSeeder(md)
		for _, p := range d.Participants {
			cs.Delete(scale.PalletCommitments, "LastCommitment", netuid, p.Hotkey[:])
		}
		if err := cs.Err(); err != nil {
			return 0, fmt.Errorf("devnet: Commitments.LastCommitment: %w", err)
		}
		d.clear = cs.KV()
		d.ClearsCommitmentLimit = true
	}

	// Register on a block of its own.
	if err := d.chop.NewBlocks(ctx, 1); err != nil {
		return 0, fmt.Errorf("devnet: first block: %w", err)
	}
	hd, err := c.BestHeader(ctx)
	if err != nil {
		return 0, fmt.Errorf("devnet: head: %w", err)
	}
	return hd.Number, nil
}

// seedCommitments writes every participant's bucket commitment (the Params
// digest, the S3 endpoint, region and bucket, and with Options.ReadKey the
// root key as read key; the buckets are public-read in any case) into Commitments.CommitmentOf at the head, in place, as if
// each had committed it at block head.
//
// raonet's runtime (spec 218) takes commitments of one field
// (Commitments.MaxFields = 1, a constant) while a bistro commitment has two
// or three (SPEC.md §6), so a participant cannot make this commitment with
// set_commitment here: the devnet writes it for them, and a participant
// that finds its commitment already on chain has nothing to commit.
func (d *Devnet) seedCommitments(ctx context.Context, head bistro.Block) error {
	s := clienttest.NewSeeder(d.md)
	for i := range d.Participants {
		p := &d.Participants[i]
		p.Commitment = bistro.Commitment{Params: d.Params.Digest(), Endpoint: d.S3.Endpoint, Region: d.S3.Region, Bucket: p.Bucket}
		if d.opts.ReadKey {
			p.Commitment.ReadKeyID, p.Commitment.ReadSecret = d.S3.AccessKey, d.S3.SecretKey
		}
		fields, err := p.Commitment.Fields()
		if err != nil {
			return fmt.Errorf("devnet: commitment of %s: %w", p.Name, err)
		}
		data := make([]scale.Value, len(fields))
		for j, f := range fields {
			data[j] = &scale.VariantValue{Name: fmt.Sprintf("Raw%d", len(f)), Fields: scale.Composite{{Value: f}}}
		}
		s.Set(scale.PalletCommitments, "CommitmentOf", map[string]scale.Value{
			"deposit": uint64(0),
			"block":   uint32(head),
			"info":    map[string]scale.Value{"fields": data},
		}, d.NetUID, p.Hotkey[:])
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("devnet: commitments: %w", err)
	}
	if err := d.chop.SetStorage(ctx, s.KV()); err != nil {
		return fmt.Errorf("devnet: commitments: %w", err)
	}
	return nil
}
