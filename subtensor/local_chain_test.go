package subtensor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

func TestLocalOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*subtensor.LocalOptions)
		want []string // substrings of the error; none: valid
	}{
		{"default", func(*subtensor.LocalOptions) {}, nil},
		{"genesis without clock", func(o *subtensor.LocalOptions) { o.Clock = nil; o.Genesis = genesis }, nil},
		{"no clock no genesis", func(o *subtensor.LocalOptions) { o.Clock = nil }, []string{"Clock is nil and Genesis is zero"}},
		{"block time", func(o *subtensor.LocalOptions) { o.BlockTime = 0 }, []string{"BlockTime 0s"}},
		{"root netuid", func(o *subtensor.LocalOptions) { o.Subnets[0].Netuid = 0 }, []string{"Netuid 0 is the root network"}},
		{"validators above uids", func(o *subtensor.LocalOptions) {
			o.Subnets[0].MaxUIDs = 8
			o.Subnets[0].MaxValidators = 9
		}, []string{"MaxValidators 9 > MaxUIDs 8"}},
		{"kappa", func(o *subtensor.LocalOptions) { o.Subnets[0].Kappa = 1.5 }, []string{"Kappa 1.5"}},
		{"commit space", func(o *subtensor.LocalOptions) { o.Subnets[0].CommitSpace = 99 }, []string{"CommitSpace 99 < 100"}},
		{"duplicate netuid", func(o *subtensor.LocalOptions) {
			o.Subnets = append(o.Subnets, subtensor.DefaultSubnetOptions(1))
		}, []string{"Subnets[1].Netuid 1: same as Subnets[0].Netuid"}},
		{"two at once", func(o *subtensor.LocalOptions) { o.BlockTime = -1; o.Subnets[0].MaxUIDs = 0 }, []string{"BlockTime -1ns", "MaxUIDs 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := subtensor.DefaultLocalOptions()
			tc.edit(&o)
			before := fmt.Sprintf("%+v", o)
			err := o.Validate()
			assert.Equal(t, before, fmt.Sprintf("%+v", o), "Validate changed the options")
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			_, err = subtensor.NewLocal(o)
			assert.Error(t, err, "NewLocal accepted invalid options")
		})
	}
}

func TestLocalBlocks(t *testing.T) {
	l := newLocal(t, nil)
	h := advance(t, l, 5)
	assert.Equal(t, bistro.Block(5), h.Number)
	assert.Equal(t, genesis.Add(5*12*time.Second), h.Time, "timestamps are genesis + n × block time")
	assert.Equal(t, l.BlockHash(5), h.Hash)

	same := newLocal(t, nil)
	other := newLocal(t, func(o *subtensor.LocalOptions) { o.Seed = []byte("another seed") })
	random := newLocal(t, func(o *subtensor.LocalOptions) { o.Seed = nil })
	for n := range bistro.Block(4) {
		assert.Equal(t, l.BlockHash(n), same.BlockHash(n), "same seed, block %d", n)
		assert.NotEqual(t, l.BlockHash(n), other.BlockHash(n), "other seed, block %d", n)
		assert.NotEqual(t, l.BlockHash(n), random.BlockHash(n), "random seed, block %d", n)
		assert.NotEqual(t, l.BlockHash(n), l.BlockHash(n+1))
	}
}

func TestLocalFinality(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) { o.FinalityLag = 2 })
	assert.Equal(t, bistro.Block(0), l.Head().Finalized)
	_, err := l.FinalizedHash(ctx, 0)
	require.NoError(t, err, "genesis is final")

	h := advance(t, l, 1)
	assert.Equal(t, bistro.Block(0), h.Finalized, "floored at 0")
	h = advance(t, l, 4)
	assert.Equal(t, bistro.Block(3), h.Finalized)
	_, err = l.FinalizedHash(ctx, 4)
	require.ErrorIs(t, err, bistro.ErrNotFinalized)
	got, err := l.FinalizedHash(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, l.BlockHash(3), got)

	l.StallFinality(true)
	h = advance(t, l, 3)
	assert.Equal(t, bistro.Block(3), h.Finalized, "stalled")
	_, err = l.FinalizedHash(ctx, 4)
	require.ErrorIs(t, err, bistro.ErrNotFinalized, "stalled")
	l.StallFinality(false)
	h = advance(t, l, 1)
	assert.Equal(t, h.Number-2, h.Finalized, "resumed at once")

	l.SetFinalityLag(5)
	h2 := advance(t, l, 1)
	assert.Equal(t, h.Finalized, h2.Finalized, "a longer lag never moves finality back")
	h2 = advance(t, l, 4)
	assert.Equal(t, h2.Number-5, h2.Finalized)
}

func TestLocalRegistrationWhenFull(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		o.Subnets[0].MaxUIDs = 4
		o.Subnets[0].ImmunityPeriod = 20
		o.Subnets[0].MinNonImmuneUIDs = 0
		o.Subnets[0].Tempo = 10
	})
	old := []string{"//A", "//B", "//C", "//D"}
	for i, uri := range old {
		assert.Equal(t, bistro.UID(i), register(t, l, 1, key(t, uri)))
		// With no weights anywhere the epoch's emission follows stake:
		// A 40, B 30, C 20, D 10.
		require.NoError(t, l.SetStake(ctx, key(t, uri).Hotkey(), uint64(40-10*i)))
	}
	_, err := l.Register(ctx, 1, key(t, "//A").Hotkey())
	require.ErrorIs(t, err, subtensor.ErrAlreadyRegistered)

	advanceTo(t, l, 21) // registered at block 1: immunity ends at block 21; epochs at 10 and 20
	before := l.Head().Number

	// D has the lowest emission: replaced.
	assert.Equal(t, bistro.UID(3), register(t, l, 1, key(t, "//E")))
	// E is immune with emission 0; among the others C is lowest.
	assert.Equal(t, bistro.UID(2), register(t, l, 1, key(t, "//F")))
	assert.Equal(t, bistro.UID(1), register(t, l, 1, key(t, "//G")))
	assert.Equal(t, bistro.UID(0), register(t, l, 1, key(t, "//H")))
	// Everyone is immune now: the best immune candidate goes, lowest
	// emission (all 0), then earliest registration (all this block), then
	// lowest uid.
	assert.Equal(t, bistro.UID(0), register(t, l, 1, key(t, "//I")))

	h := advance(t, l, 1)
	ns, err := l.Neurons(ctx, 1, h.Number)
	require.NoError(t, err)
	want := []string{"//I", "//G", "//F", "//E"}
	for i, n := range ns {
		assert.Equal(t, key(t, want[i]).Hotkey(), n.Hotkey, "uid %d", i)
		assert.Equal(t, h.Number, n.Registered)
		assert.False(t, n.ValidatorPermit, "uid %d: a new holder has no permit", i)
		assert.Zero(t, n.Incentive)
	}
	// History keeps who held each uid.
	ns, err = l.Neurons(ctx, 1, before)
	require.NoError(t, err)
	for i, n := range ns {
		assert.Equal(t, key(t, old[i]).Hotkey(), n.Hotkey, "uid %d at block %d", i, before)
		assert.True(t, n.ValidatorPermit, "uid %d at block %d", i, before)
	}
	_, err = l.Register(ctx, 1, key(t, "//A").Hotkey())
	require.NoError(t, err, "a pruned hotkey can register again")
}

func TestLocalRegistrationMinNonImmune(t *testing.T) {
	// Subtensor's default MinNonImmuneUids = 10: a small full subnet with no
	// immune uid has no uid to give.
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		o.Subnets[0].MaxUIDs = 3
		o.Subnets[0].MaxValidators = 3
		o.Subnets[0].ImmunityPeriod = 2
		o.Subnets[0].MinNonImmuneUIDs = 10
	})
	for _, uri := range []string{"//A", "//B", "//C"} {
		register(t, l, 1, key(t, uri))
	}
	advance(t, l, 5)
	_, err := l.Register(context.Background(), 1, key(t, "//D").Hotkey())
	require.ErrorIs(t, err, subtensor.ErrNoUIDAvailable)
}

func TestLocalStakeHistory(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, nil)
	a := key(t, "//Alice").Hotkey()
	register(t, l, 1, key(t, "//Alice"))
	require.NoError(t, l.AddStake(ctx, a, 10))
	require.NoError(t, l.AddStake(ctx, a, 5)) // same block
	advance(t, l, 3)                          // block 1: 15
	require.NoError(t, l.SetStake(ctx, a, 7))
	advance(t, l, 2) // block 4: 7
	require.NoError(t, l.AddStake(ctx, a, 1))
	// Pending in block 6, not produced: reads at 5 do not see it.
	for _, c := range []struct {
		at    bistro.Block
		stake uint64
		n     int
	}{{0, 0, 0}, {1, 15, 1}, {3, 15, 1}, {4, 7, 1}, {5, 7, 1}} {
		ns, err := l.Neurons(ctx, 1, c.at)
		require.NoError(t, err)
		require.Len(t, ns, c.n, "block %d", c.at)
		if c.n > 0 {
			assert.Equal(t, c.stake, ns[0].Stake, "stake at block %d", c.at)
		}
	}
	_, err := l.Neurons(ctx, 1, 6)
	require.ErrorIs(t, err, subtensor.ErrFutureBlock)
	require.ErrorIs(t, err, bistro.ErrNotFound)
	_, err = l.Neurons(ctx, 9, 0)
	require.ErrorIs(t, err, subtensor.ErrNoSubnet)

	require.Error(t, l.AddStake(ctx, a, ^uint64(0)), "overflow")
}

func TestLocalPermitsTopK(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) { o.Subnets[0].MaxValidators = 2 })
	// uid 0: 5, uid 1: 9, uid 2: 5, uid 3: 0. K = 2: uid 1, and of the two
	// at 5 the higher uid (Subtensor's stable ascending sort).
	for i, s := range []uint64{5, 9, 5, 0} {
		k := key(t, fmt.Sprintf("//P%d", i))
		register(t, l, 1, k)
		require.NoError(t, l.SetStake(ctx, k.Hotkey(), s))
	}
	h := advance(t, l, 9)
	ns, err := l.Neurons(ctx, 1, h.Number)
	require.NoError(t, err)
	for _, n := range ns {
		assert.False(t, n.ValidatorPermit, "uid %d: permit before the first epoch", n.UID)
	}
	h = advance(t, l, 1) // epoch at block 10
	ns, err = l.Neurons(ctx, 1, h.Number)
	require.NoError(t, err)
	var permits []bool
	for _, n := range ns {
		permits = append(permits, n.ValidatorPermit)
	}
	assert.Equal(t, []bool{false, true, true, false}, permits)
}

func TestLocalSetWeights(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		o.Subnets[0].WeightsRateLimit = 5
		o.Subnets[0].WeightsVersionKey = 3
		o.Subnets[0].MinAllowedWeights = 3
	})
	v, m1, m2 := key(t, "//Alice"), key(t, "//Bob"), key(t, "//Charlie")
	register(t, l, 1, v) // block 1
	register(t, l, 1, m1)
	require.NoError(t, l.SetStake(ctx, v.Hotkey(), 100))
	advance(t, l, 2) // head 2, next block 3

	// The rate limit counts from registration (block 1).
	err := l.SetWeights(ctx, m1, 1, []bistro.UID{1}, []uint16{1}, 3)
	require.ErrorIs(t, err, bistro.ErrRateLimited, "2 blocks after registration")
	advance(t, l, 3) // next block 6

	// A single self weight needs no permit.
	require.NoError(t, l.SetWeights(ctx, m1, 1, []bistro.UID{1}, []uint16{1}, 3), "self weight")
	// Weights on others need a permit, which comes with the first epoch.
	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1}, []uint16{1, 1}, 3)
	require.ErrorIs(t, err, subtensor.ErrNoValidatorPermit)
	advanceTo(t, l, 10)
	register(t, l, 1, m2) // three uids: at least 3 weights

	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1, 2}, []uint16{1, 1, 1}, 2)
	require.ErrorIs(t, err, subtensor.ErrWeightsVersion)
	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1}, []uint16{1, 1}, 3)
	require.ErrorIs(t, err, subtensor.ErrInvalidWeights, "fewer than MinAllowedWeights")
	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1, 1}, []uint16{1, 1, 1}, 3)
	require.ErrorIs(t, err, subtensor.ErrInvalidWeights, "duplicate")
	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1, 3}, []uint16{1, 1, 1}, 3)
	require.ErrorIs(t, err, subtensor.ErrInvalidWeights, "uid 3 does not exist")
	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1, 2, 3}, []uint16{1, 1, 1, 1}, 3)
	require.ErrorIs(t, err, subtensor.ErrInvalidWeights, "more uids than the subnet")
	err = l.SetWeights(ctx, v, 2, []bistro.UID{0}, []uint16{1}, 3)
	require.ErrorIs(t, err, subtensor.ErrNoSubnet)
	require.NoError(t, l.SetWeights(ctx, v, 1, []bistro.UID{0, 1, 2}, []uint16{0, 1, 2}, 4), "a higher version key is fine")
	err = l.SetWeights(ctx, v, 1, []bistro.UID{0, 1, 2}, []uint16{0, 1, 2}, 4)
	require.ErrorIs(t, err, bistro.ErrRateLimited)
}

// forged claims one hotkey and signs with another key.
type forged struct {
	claim  bistro.Hotkey
	signer bistro.Signer
}

func (f forged) Hotkey() bistro.Hotkey           { return f.claim }
func (f forged) Sign(msg []byte) ([]byte, error) { return f.signer.Sign(msg) }

func TestLocalTransactionOrigin(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, nil)
	alice := key(t, "//Alice")
	register(t, l, 1, alice)
	advance(t, l, 1)
	f := forged{claim: alice.Hotkey(), signer: key(t, "//Mallory")}
	err := l.Commit(ctx, f, 1, [][]byte{[]byte("x")})
	require.ErrorIs(t, err, subtensor.ErrBadOrigin)
	require.ErrorIs(t, err, bistro.ErrBadSignature)
	err = l.SetWeights(ctx, f, 1, []bistro.UID{0}, []uint16{1}, 0)
	require.ErrorIs(t, err, subtensor.ErrBadOrigin)

	lax := newLocal(t, func(o *subtensor.LocalOptions) { o.VerifySignatures = false })
	register(t, lax, 1, alice)
	require.NoError(t, lax.Commit(ctx, f, 1, [][]byte{[]byte("x")}), "signatures not checked")
}

func TestLocalCommitments(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) { o.Subnets[0].Tempo = 100 })
	m := key(t, "//Alice")
	register(t, l, 1, m)
	advance(t, l, 1)

	require.NoError(t, l.Commit(ctx, m, 1, [][]byte{[]byte("one")}))
	_, _, err := l.Commitment(ctx, 1, m.Hotkey())
	require.ErrorIs(t, err, bistro.ErrNotFound, "visible only once its block is produced")
	h := advance(t, l, 1)
	got, at, err := l.Commitment(ctx, 1, m.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("one")}, got)
	assert.Equal(t, h.Number, at)

	// Space: 3100 bytes per epoch, at least 100 per commitment; "one" used
	// 100. Thirty more of 100 fill it.
	field := bytes.Repeat([]byte{'x'}, 100)
	for i := range 30 {
		require.NoError(t, l.Commit(ctx, m, 1, [][]byte{field}), "commit %d", i)
	}
	err = l.Commit(ctx, m, 1, [][]byte{{1}})
	require.ErrorIs(t, err, subtensor.ErrSpaceLimit)
	require.ErrorIs(t, err, bistro.ErrRateLimited)
	// Still the one in a produced block; the pending one is the last.
	got, _, err = l.Commitment(ctx, 1, m.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("one")}, got)
	h = advance(t, l, 1)
	got, at, err = l.Commitment(ctx, 1, m.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, [][]byte{field}, got)
	assert.Equal(t, h.Number, at)

	advanceTo(t, l, 100) // a new epoch, a new budget
	require.NoError(t, l.Commit(ctx, m, 1, [][]byte{{1}}))
}

func TestLocalFaults(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, nil)
	boom := errors.New("node unreachable")
	l.FailNext(subtensor.OpNeurons, boom)
	_, err := l.Neurons(ctx, 1, 0)
	require.ErrorIs(t, err, boom)
	_, err = l.Neurons(ctx, 1, 0)
	require.NoError(t, err, "only the next call fails")

	l.FailNext(subtensor.OpSubscribe, boom)
	_, err = l.Subscribe(ctx)
	require.ErrorIs(t, err, boom)

	s, err := l.Subscribe(ctx)
	require.NoError(t, err)
	_, err = s.Next(ctx)
	require.NoError(t, err)
	l.DropStreams()
	_, err = s.Next(ctx)
	require.ErrorIs(t, err, subtensor.ErrStreamDropped)
	advance(t, l, 2) // the dropped stream holds nothing
}

func TestLocalClose(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, nil)
	s, err := l.Subscribe(ctx)
	require.NoError(t, err)
	_, err = s.Next(ctx)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(ctx) // waits for a block that never comes
		errc <- err
	}()
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-errc, subtensor.ErrClosed)
	require.NoError(t, l.Close(), "idempotent")
	_, err = l.Subscribe(ctx)
	require.ErrorIs(t, err, subtensor.ErrClosed)
	_, err = l.Advance(ctx, 1)
	require.ErrorIs(t, err, subtensor.ErrClosed)
	_, err = l.Register(ctx, 1, key(t, "//Alice").Hotkey())
	require.ErrorIs(t, err, subtensor.ErrClosed)
	require.ErrorIs(t, l.Run(ctx), subtensor.ErrClosed)
}
