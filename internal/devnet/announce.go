package devnet

import (
	"context"
	"fmt"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/client/clienttest"
	"github.com/bistro-go/bistro/subtensor/scale"
)

// announcementFields is how many commitment fields a participant's
// announcement takes: bucket, endpoint and read key (SPEC.md §6).
const announcementFields = 3

// commitmentFields reads the runtime's Commitments.MaxFields (1 when the
// metadata lacks it, as older runtimes do).
func (d *Devnet) commitmentFields() uint64 {
	k, err := d.md.Constant(scale.PalletCommitments, "MaxFields")
	if err != nil {
		return 1
	}
	v, err := d.md.Types.Decode(k.Type, k.Value)
	if err != nil {
		return 1
	}
	switch x := v.(type) {
	case uint32:
		return uint64(x)
	case uint64:
		return x
	}
	return 1
}

// Announcement is the commitment participant p makes of its bucket: the
// one the operator package builds from --bucket and the
// BISTRO_READ_ACCESS_KEY_ID / BISTRO_READ_SECRET_ACCESS_KEY of Env.
func (d *Devnet) Announcement(p Participant) bistro.Commitment {
	return bistro.Commitment{Params: d.Params.Digest(), Endpoint: d.S3.Endpoint, Bucket: p.Bucket,
		Region: d.S3.Region, ReadKeyID: d.S3.AccessKey, ReadSecret: d.S3.SecretKey}
}

// preannounce writes every participant's announcement into
// Commitments.CommitmentOf when the runtime cannot take it by extrinsic:
// raonet (spec 218, February 2025) allows one commitment field where
// finney's runtime allows three (MaxCommitFieldsInner = 3) and an
// announcement needs three. A participant that finds its announcement on
// chain already does not commit again, so the devnet's participants run
// the same code as on finney. With a runtime that takes three fields it
// writes nothing and the participants commit themselves.
func (d *Devnet) preannounce(ctx context.Context) error {
	d.MaxCommitmentFields = d.commitmentFields()
	if d.MaxCommitmentFields >= announcementFields {
		return nil
	}
	c, err := d.newClient(ctx)
	if err != nil {
		return fmt.Errorf("devnet: chain client: %w", err)
	}
	defer c.Close()
	head, err := c.BestHeader(ctx)
	if err != nil {
		return fmt.Errorf("devnet: head: %w", err)
	}
	s := clienttest.NewSeeder(d.md)
	for _, p := range d.Participants {
		cm := d.Announcement(p)
		fields, err := cm.Fields()
		if err != nil {
			return fmt.Errorf("devnet: %s's announcement: %w", p.Name, err)
		}
		data := make([]scale.Value, len(fields))
		for i, f := range fields {
			data[i] = &scale.VariantValue{Name: fmt.Sprintf("Raw%d", len(f)), Fields: scale.Composite{{Value: f}}}
		}
		hk := p.Hotkey
		s.Set(scale.PalletCommitments, "CommitmentOf", map[string]scale.Value{
			"deposit": uint64(0), "block": uint32(head.Number),
			"info": map[string]scale.Value{"fields": data},
		}, d.NetUID, hk[:])
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("devnet: announcements: %w", err)
	}
	if err := d.chop.SetStorage(ctx, s.KV()); err != nil {
		return fmt.Errorf("devnet: announcements: %w", err)
	}
	d.Preannounced = true
	d.log.Info("devnet: wrote the participants' bucket announcements (the runtime takes fewer commitment fields than an announcement needs)",
		"runtime_fields", d.MaxCommitmentFields, "needed", announcementFields)
	return nil
}
