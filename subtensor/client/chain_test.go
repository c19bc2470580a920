package client_test

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/operator"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/subtensor/chaintest"
	"github.com/bistro-go/bistro/subtensor/client"
	"github.com/bistro-go/bistro/subtensor/client/clienttest"
	"github.com/bistro-go/bistro/subtensor/scale"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// The chopsticks process, started by the first test that needs it and
// killed by TestMain, also when a test failed.
var (
	chopOnce sync.Once
	chop     *clienttest.Chopsticks
	chopErr  error
	chopLogs string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if chop != nil {
		chop.Close()
	}
	if chopLogs != "" {
		os.RemoveAll(chopLogs)
	}
	os.Exit(code)
}

// chopsticks returns the running chopsticks, starting it on the fixtures'
// raonet.json (a real Subtensor runtime, spec 218) on first use. Missing
// node or chopsticks fails the test with the command to run.
func chopsticks(t *testing.T) *clienttest.Chopsticks {
	t.Helper()
	genesis := filepath.Join(scaletest.Dir(t), "raonet.json")
	if _, err := os.Stat(genesis); err != nil {
		t.Fatalf("MISSING fixture raonet.json: %v", err)
	}
	chopOnce.Do(func() {
		bin, err := clienttest.FindChopsticks()
		if err != nil {
			chopErr = err
			return
		}
		if chopLogs, err = os.MkdirTemp("", "bistro-chopsticks-"); err != nil {
			chopErr = err
			return
		}
		// No deadline: StartChopsticks gives up when chopsticks stalls.
		chop, chopErr = clienttest.StartChopsticks(context.Background(), bin, genesis, chopLogs)
		if chopErr == nil {
			t.Logf("chopsticks pid %d on %s: listening after %v, block #1 after %v",
				chop.Pid(), chop.URL, chop.Started.Round(time.Millisecond), chop.Ready.Round(time.Millisecond))
		}
	})
	if chopErr != nil {
		t.Fatalf("FAIL: no chopsticks: %v\n(install it with: scripts/chopsticks)", chopErr)
	}
	return chop
}

// chainHarness runs chaintest on chopsticks: netuid 1 of raonet, seeded
// with dev_setStorage with two validators (stake, permits), a miner (no
// stake, no permit) and a funded stranger. The seeding writes the storage
// items the runtime's own metadata names, encoded with its types.
type chainHarness struct {
	t          *testing.T
	ch         *clienttest.Chopsticks
	c          *client.Client
	md         *scale.Metadata
	validators []bistro.Signer
	miners     []bistro.Signer
	stranger   bistro.Signer
	coldkey    bistro.Signer
	// permitsForAll: the runtime gives every uid a permit.
	permitsForAll bool
}

const (
	harnessNetuid     = 1
	harnessRateLimit  = 4
	harnessVersionKey = 3
	harnessStake      = 1_000_000_000_000 // 1000 alpha
)

var harnessOnce struct {
	sync.Once
	h   *chainHarness
	err error
}

func newChainHarness(t *testing.T) *chainHarness {
	t.Helper()
	ch := chopsticks(t)
	harnessOnce.Do(func() {
		harnessOnce.h, harnessOnce.err = seedHarness(t, ch)
	})
	require.NoError(t, harnessOnce.err, "seeding the subnet")
	return harnessOnce.h
}

func keypair(t testing.TB, uri string) *bistro.Keypair {
	t.Helper()
	k, err := bistro.KeypairFromURI(uri)
	require.NoError(t, err)
	return k
}

func seedHarness(t *testing.T, ch *clienttest.Chopsticks) (*chainHarness, error) {
	ctx := t.Context()
	o := client.DefaultOptions()
	o.Network = ch.URL
	c, err := client.New(ctx, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {}) // the client lives as long as chopsticks
	md, err := c.Metadata(ctx, bistro.Hash{})
	if err != nil {
		return nil, err
	}
	h := &chainHarness{
		t: t, ch: ch, c: c, md: md,
		validators: []bistro.Signer{keypair(t, "//BistroValidator1"), keypair(t, "//BistroValidator2")},
		miners:     []bistro.Signer{keypair(t, "//BistroMiner1")},
		stranger:   keypair(t, "//BistroStranger"),
		coldkey:    keypair(t, "//Alice"),
	}
	s := clienttest.NewSeeder(md)
	head, err := c.BestHeader(ctx)
	if err != nil {
		return nil, err
	}
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
	nv, err := read("SubnetworkN", uint16(harnessNetuid))
	if err != nil {
		return nil, err
	}
	n0 := int(nv.(uint16))

	// Balances for fees: every key.
	for _, k := range []bistro.Signer{h.coldkey, h.validators[0], h.validators[1], h.miners[0], h.stranger} {
		hk := k.Hotkey()
		s.Set("System", "Account", map[string]scale.Value{
			"nonce": uint32(0), "consumers": uint32(0), "providers": uint32(1), "sufficients": uint32(0),
			"data": map[string]scale.Value{
				"free": new(big.Int).SetUint64(1_000_000_000_000_000), "reserved": big.NewInt(0),
				"frozen": big.NewInt(0), "flags": new(big.Int).Lsh(big.NewInt(1), 127),
			},
		}, hk[:])
	}
	// The neurons: validators then the miner, after the genesis uids.
	ns := append(append([]bistro.Signer{}, h.validators...), h.miners...)
	n := n0 + len(ns)
	cold := h.coldkey.Hotkey()
	for i, k := range ns {
		uid, hk := uint16(n0+i), k.Hotkey()
		s.Set(scale.PalletSubtensor, "Uids", uid, uint16(harnessNetuid), hk[:])
		s.Set(scale.PalletSubtensor, "Keys", hk[:], uint16(harnessNetuid), uid)
		s.Set(scale.PalletSubtensor, "IsNetworkMember", true, hk[:], uint16(harnessNetuid))
		s.Set(scale.PalletSubtensor, "Owner", cold[:], hk[:])
		s.Set(scale.PalletSubtensor, "BlockAtRegistration", uint64(head.Number), uint16(harnessNetuid), uid)
		if i < len(h.validators) {
			stake := uint64(harnessStake * (i + 1))
			s.Set(scale.PalletSubtensor, "TotalHotkeyAlpha", stake, hk[:], uint16(harnessNetuid))
			s.Set(scale.PalletSubtensor, "TotalHotkeyShares", stake, hk[:], uint16(harnessNetuid))
			s.Set(scale.PalletSubtensor, "Alpha", stake, hk[:], cold[:], uint16(harnessNetuid))
		}
	}
	s.Set(scale.PalletSubtensor, "SubnetworkN", uint16(n), uint16(harnessNetuid))
	// The per-uid vectors, extended to n.
	for _, e := range []string{"Active", "Rank", "Trust", "Consensus", "Incentive", "Dividends", "Emission",
		"LastUpdate", "ValidatorTrust", "PruningScores", "ValidatorPermit"} {
		v, err := read(e, uint16(harnessNetuid))
		if err != nil {
			return nil, err
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
				vec[i] = i-n0 < len(h.validators)
			case e == "Emission" || e == "LastUpdate":
				vec[i] = uint64(0)
			default:
				vec[i] = uint16(0)
			}
		}
		s.Set(scale.PalletSubtensor, e, vec, uint16(harnessNetuid))
	}
	// Hyperparameters: the rate limit and version key the suite reads,
	// commit-reveal off, no minimum stake for weights.
	s.Set(scale.PalletSubtensor, "WeightsSetRateLimit", uint64(harnessRateLimit), uint16(harnessNetuid))
	s.Set(scale.PalletSubtensor, "WeightsVersionKey", uint64(harnessVersionKey), uint16(harnessNetuid))
	s.Set(scale.PalletSubtensor, "CommitRevealWeightsEnabled", false, uint16(harnessNetuid))
	s.Set(scale.PalletSubtensor, "WeightsMinStake", uint64(0))
	if s.Err() != nil {
		return nil, s.Err()
	}
	if err := ch.SetStorage(ctx, s.KV()); err != nil {
		return nil, err
	}
	// Start the tests on a block of its own.
	if err := ch.NewBlocks(ctx, 1); err != nil {
		return nil, err
	}
	// This runtime (raonet, an early dynamic-TAO test build) runs a mock
	// epoch at every block that gives every uid a permit: the miner,
	// seeded without one, has one now.
	hd, err := c.Head(ctx)
	if err != nil {
		return nil, err
	}
	neurons, err := c.Neurons(ctx, harnessNetuid, hd.Number)
	if err != nil {
		return nil, err
	}
	for _, nr := range neurons {
		if nr.Hotkey == h.miners[0].Hotkey() && nr.ValidatorPermit {
			h.permitsForAll = true
			t.Logf("the runtime gave the miner (uid %d, no stake) a validator permit: every uid has one here", nr.UID)
		}
	}
	return h, nil
}

func (h *chainHarness) Chain() bistro.Chain         { return h.c }
func (h *chainHarness) Netuid() uint16              { return harnessNetuid }
func (h *chainHarness) Validators() []bistro.Signer { return h.validators }
func (h *chainHarness) Miners() []bistro.Signer     { return h.miners }
func (h *chainHarness) Stranger() bistro.Signer     { return h.stranger }
func (h *chainHarness) WeightsRateLimit() uint64    { return harnessRateLimit }
func (h *chainHarness) WeightsVersionKey() uint64   { return harnessVersionKey }

// Advance builds n blocks (chopsticks makes blocks only when asked, or
// when an extrinsic arrives).
func (h *chainHarness) Advance(ctx context.Context, n uint64) error {
	return h.ch.NewBlocks(ctx, int(n))
}

// AddStake builds a block and raises the hotkey's alpha on the subnet in
// it (dev_setStorage writes the head block in place, so earlier blocks
// keep their state).
func (h *chainHarness) AddStake(ctx context.Context, hotkey bistro.Hotkey, amount uint64) error {
	if err := h.ch.NewBlocks(ctx, 1); err != nil {
		return err
	}
	s := clienttest.NewSeeder(h.md)
	cold := h.coldkey.Hotkey()
	for _, e := range []struct {
		entry string
		keys  []scale.Value
	}{
		{"TotalHotkeyAlpha", []scale.Value{hotkey[:], uint16(harnessNetuid)}},
		{"TotalHotkeyShares", []scale.Value{hotkey[:], uint16(harnessNetuid)}},
		{"Alpha", []scale.Value{hotkey[:], cold[:], uint16(harnessNetuid)}},
	} {
		k, err := h.md.StorageKey(scale.PalletSubtensor, e.entry, e.keys...)
		if err != nil {
			return err
		}
		b, err := h.c.Storage(ctx, k, bistro.Hash{})
		if err != nil {
			return err
		}
		v, err := h.md.DecodeStorage(scale.PalletSubtensor, e.entry, b)
		if err != nil {
			return err
		}
		s.Set(scale.PalletSubtensor, e.entry, v.(uint64)+amount, e.keys...)
	}
	if s.Err() != nil {
		return s.Err()
	}
	return h.ch.SetStorage(ctx, s.KV())
}

// CommitmentLimits are the runtime's: Commitments.MaxFields and RateLimit
// (1 field every 100 blocks at spec 218).
func (h *chainHarness) CommitmentLimits() (int, uint64) {
	get := func(name string) uint64 {
		k, err := h.md.Constant(scale.PalletCommitments, name)
		require.NoError(h.t, err)
		v, err := h.md.Types.Decode(k.Type, k.Value)
		require.NoError(h.t, err)
		switch x := v.(type) {
		case uint32:
			return uint64(x)
		case uint64:
			return x
		}
		h.t.Fatalf("Commitments.%s is %T", name, v)
		return 0
	}
	return int(get("MaxFields")), get("RateLimit")
}

// EveryUIDPermitted says whether the runtime gave the seeded miner a
// permit (see seedHarness).
func (h *chainHarness) EveryUIDPermitted() bool { return h.permitsForAll }

var (
	_ chaintest.CommitmentLimiter = (*chainHarness)(nil)
	_ chaintest.PermitsForAll     = (*chainHarness)(nil)
)

// TestChopsticks runs the chain contract suite and the client's own
// checks against a real Subtensor runtime under chopsticks.
func TestChopsticks(t *testing.T) {
	h := newChainHarness(t)
	t.Run("Contract", func(t *testing.T) { chaintest.Run(t, h) })
	t.Run("Reads", func(t *testing.T) { testReads(t, h) })
	t.Run("Receipts", func(t *testing.T) { testReceipts(t, h) })
	t.Run("Refusals", func(t *testing.T) { testRefusals(t, h) })
	t.Run("StreamReconnect", func(t *testing.T) { testStreamReconnect(t, h) })
	t.Run("CommitReveal", func(t *testing.T) { testCommitReveal(t, h) })
	t.Run("OperatorCommitReveal", func(t *testing.T) { testOperatorCommitReveal(t, h) })
}

func testReceipts(t *testing.T, h *chainHarness) {
	ctx := t.Context()
	c := h.c
	// A successful extrinsic: its events, in order, ending with success.
	// (A validator: the miner committed last within the rate limit.)
	m := h.validators[0]
	rc, err := c.CommitReceipt(ctx, m, harnessNetuid, [][]byte{[]byte("receipt")})
	require.NoError(t, err)
	require.NotEmpty(t, rc.Events)
	last := rc.Events[len(rc.Events)-1]
	assert.Equal(t, "System", last.Pallet)
	assert.Equal(t, "ExtrinsicSuccess", last.Name)
	var names []string
	for _, ev := range rc.Events {
		names = append(names, ev.Pallet+"."+ev.Name)
	}
	assert.Contains(t, names, "Commitments.Commitment")
	hash, err := c.BlockHash(ctx, rc.BlockNumber)
	require.NoError(t, err)
	assert.Equal(t, hash, rc.BlockHash)
	assert.GreaterOrEqual(t, rc.Index, 1, "after the timestamp inherent")

	// A failed one: the module error by name, and the sentinel.
	_, err = c.CommitReceipt(ctx, m, harnessNetuid, [][]byte{[]byte("again")})
	var de *client.DispatchError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Commitments", de.Module)
	assert.Equal(t, "CommitmentSetRateLimitExceeded", de.Name)
	assert.ErrorIs(t, err, bistro.ErrRateLimited)
	require.NotNil(t, de.Receipt)
	assert.Equal(t, "ExtrinsicFailed", de.Receipt.Events[len(de.Receipt.Events)-1].Name)

	// A raw call through Submit, waiting for finality.
	o := client.DefaultOptions()
	o.Network = h.ch.URL
	o.WaitFinalized = true
	fc, err := client.New(ctx, o)
	require.NoError(t, err)
	defer fc.Close()
	rc, err = fc.Submit(ctx, h.coldkey, client.Call("System", "remark", map[string]scale.Value{"remark": []byte("bistro")}))
	require.NoError(t, err)
	assert.True(t, rc.Finalized)
	fin, _, err := fc.FinalizedHead(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, fin, rc.BlockNumber)
}

func testReads(t *testing.T, h *chainHarness) {
	ctx := t.Context()
	c, md := h.c, h.md
	// Paged keys: the Keys map of the subnet, two at a time.
	prefix, err := md.StorageKey(scale.PalletSubtensor, "Keys", uint16(harnessNetuid))
	require.NoError(t, err)
	all, err := c.StorageKeys(ctx, prefix, bistro.Hash{})
	require.NoError(t, err)
	head, err := c.Head(ctx)
	require.NoError(t, err)
	ns, err := c.Neurons(ctx, harnessNetuid, head.Number)
	require.NoError(t, err)
	require.Len(t, all, len(ns))
	var paged [][]byte
	var start []byte
	for {
		page, err := c.StorageKeysPaged(ctx, prefix, 2, start, bistro.Hash{})
		require.NoError(t, err)
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		start = page[len(page)-1]
	}
	assert.Equal(t, all, paged)
	vals, err := c.StorageMany(ctx, all, bistro.Hash{})
	require.NoError(t, err)
	for i, k := range all {
		keys, err := md.DecodeStorageKey(scale.PalletSubtensor, "Keys", k)
		require.NoError(t, err)
		uid := keys[1].(uint16)
		v, err := md.DecodeStorage(scale.PalletSubtensor, "Keys", vals[i])
		require.NoError(t, err)
		assert.Equal(t, ns[uid].Hotkey[:], v.(scale.Composite)[0].Value, "Keys(%d, %d)", harnessNetuid, uid)
	}

	// Storage at a block: the stake before and after a change.
	v := h.validators[0].Hotkey()
	sk, err := md.StorageKey(scale.PalletSubtensor, "TotalHotkeyAlpha", v[:], uint16(harnessNetuid))
	require.NoError(t, err)
	before, err := c.Storage(ctx, sk, head.Hash)
	require.NoError(t, err)
	require.NoError(t, h.AddStake(ctx, v, 5))
	again, err := c.Storage(ctx, sk, head.Hash)
	require.NoError(t, err)
	assert.Equal(t, before, again, "storage at a past block")
	now, err := c.Storage(ctx, sk, bistro.Hash{})
	require.NoError(t, err)
	assert.NotEqual(t, before, now)
	missing, err := c.Storage(ctx, append(sk[:len(sk)-2:len(sk)-2], 0xff, 0xff), bistro.Hash{})
	require.NoError(t, err)
	assert.Nil(t, missing, "no value")

	// Timestamps: the runtime's 3 s slots.
	b1, err := c.BlockHash(ctx, head.Number)
	require.NoError(t, err)
	b2, err := c.BlockHash(ctx, head.Number+1)
	require.NoError(t, err)
	t1, err := c.Timestamp(ctx, b1)
	require.NoError(t, err)
	t2, err := c.Timestamp(ctx, b2)
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, t2.Sub(t1))
	assert.Equal(t, head.Time, t1)

	// A block and its events: the timestamp inherent first.
	blk, err := c.Block(ctx, b2)
	require.NoError(t, err)
	assert.Equal(t, head.Number+1, blk.Header.Number)
	assert.Equal(t, b2, blk.Header.Hash)
	require.NotEmpty(t, blk.Extrinsics)
	x, err := md.DecodeExtrinsic(blk.Extrinsics[0])
	require.NoError(t, err)
	assert.Equal(t, "Timestamp.set", x.Call.Pallet+"."+x.Call.Name)
	evs, err := c.Events(ctx, b2)
	require.NoError(t, err)
	require.NotEmpty(t, evs)

	// A runtime API call with typed inputs: spec 218 answers opaque bytes.
	out, err := c.CallAPI(ctx, "SubnetRegistrationRuntimeApi", "get_network_registration_cost", nil, bistro.Hash{})
	require.NoError(t, err)
	assert.IsType(t, uint64(0), out)
	_, err = c.NeuronsLite(ctx, harnessNetuid, head.Number)
	assert.ErrorIs(t, err, scale.ErrNotFound, "get_neurons_lite is untyped at spec 218")
}

func testRefusals(t *testing.T, h *chainHarness) {
	ctx := t.Context()
	c := h.c
	head, err := c.Head(ctx)
	require.NoError(t, err)
	v := h.validators[0]

	_, err = c.Neurons(ctx, 77, head.Number)
	assert.ErrorIs(t, err, subtensor.ErrNoSubnet, "neurons of a netuid that does not exist")
	assert.ErrorIs(t, err, bistro.ErrNotFound)
	_, err = c.Neurons(ctx, harnessNetuid, head.Number+1000)
	assert.ErrorIs(t, err, subtensor.ErrFutureBlock)
	err = c.SetWeights(ctx, v, 77, []bistro.UID{0}, []uint16{1}, harnessVersionKey)
	assert.ErrorIs(t, err, subtensor.ErrNoSubnet, "weights on a netuid that does not exist")
	err = c.Commit(ctx, v, 77, [][]byte{[]byte("x")})
	assert.ErrorIs(t, err, subtensor.ErrNoSubnet, "commitment on a netuid that does not exist")
	_, err = c.FinalizedHash(ctx, head.Number+5)
	assert.ErrorIs(t, err, bistro.ErrNotFinalized)

	// A key with no funds cannot pay the fee: the pool refuses it.
	poor := keypair(t, "//BistroPoor")
	_, err = c.Submit(ctx, poor, client.Call("System", "remark", map[string]scale.Value{"remark": []byte("x")}))
	var te *client.TxError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, client.ErrInsufficientBalance, "%v", err)
}

func testStreamReconnect(t *testing.T, h *chainHarness) {
	ctx := t.Context()
	p, err := clienttest.NewProxy(h.ch.URL[len("ws://"):])
	require.NoError(t, err)
	defer p.Close()
	o := client.DefaultOptions()
	o.Network = "ws://" + p.Addr()
	o.RetryDelay = 50 * time.Millisecond
	c, err := client.New(ctx, o)
	require.NoError(t, err)
	defer c.Close()
	s, err := c.Subscribe(ctx)
	require.NoError(t, err)
	defer s.Close()
	first, err := s.Next(ctx)
	require.NoError(t, err)

	// Blocks made while the connection is down are all returned, in order.
	p.Cut()
	require.NoError(t, h.Advance(ctx, 3))
	p.Cut()
	prev := first
	for range 3 {
		hd, err := s.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, prev.Number+1, hd.Number)
		assert.False(t, hd.Time.Before(prev.Time))
		want, err := h.c.BlockHash(ctx, hd.Number)
		require.NoError(t, err)
		assert.Equal(t, want, hd.Hash)
		prev = hd
	}

	// Several blocks between two notifications: no gap either.
	go func() { _ = h.Advance(ctx, 5) }()
	for range 5 {
		hd, err := s.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, prev.Number+1, hd.Number)
		prev = hd
	}
	require.NoError(t, s.Close())
	_, err = s.Next(ctx)
	assert.ErrorIs(t, err, subtensor.ErrClosed)

	// An endpoint that goes away for good: the stream says it dropped.
	s, err = c.Subscribe(ctx)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Next(ctx)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	_, err = s.Next(ctx)
	assert.ErrorIs(t, err, subtensor.ErrStreamDropped)
	assert.ErrorIs(t, err, client.ErrUnreachable)

	// A stream of finalized heads only.
	o.Network = h.ch.URL
	o.FinalizedHeads = true
	fc, err := client.New(ctx, o)
	require.NoError(t, err)
	defer fc.Close()
	fs, err := fc.Subscribe(ctx)
	require.NoError(t, err)
	defer fs.Close()
	prev, err = fs.Next(ctx)
	require.NoError(t, err)
	go func() { _ = h.Advance(ctx, 2) }()
	for range 2 {
		hd, err := fs.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, prev.Number+1, hd.Number)
		assert.Equal(t, hd.Number, hd.Finalized)
		prev = hd
	}
}

func testCommitReveal(t *testing.T, h *chainHarness) {
	const tempo = 9
	ctx := t.Context()
	c := h.c
	v := h.validators[1]
	commitRevealOn(t, h, tempo)

	head, err := c.Head(ctx)
	require.NoError(t, err)
	ns, err := c.Neurons(ctx, harnessNetuid, head.Number)
	require.NoError(t, err)
	uids := make([]bistro.UID, len(ns))
	ws := make([]uint16, len(ns))
	for i := range ns {
		uids[i], ws[i] = bistro.UID(i), uint16(100*(i+1))
	}
	err = c.SetWeights(ctx, v, harnessNetuid, uids, ws, harnessVersionKey)
	require.ErrorIs(t, err, client.ErrCommitRevealEnabled)

	// Commit in the first block of an epoch (one starts where block +
	// netuid + 1 is a multiple of tempo + 1), so that the blocks after it
	// are still too early for the reveal.
	now, err := c.BestHeader(ctx)
	require.NoError(t, err)
	if k := (tempo + 1 - (uint64(now.Number)+1+harnessNetuid+1)%(tempo+1)) % (tempo + 1); k > 0 {
		require.NoError(t, h.Advance(ctx, k))
	}
	wc, err := c.CommitWeights(ctx, v, harnessNetuid, uids, ws, harnessVersionKey)
	require.NoError(t, err)
	require.NotZero(t, wc.Block)
	first, last, err := c.RevealWindow(ctx, wc)
	require.NoError(t, err)
	t.Logf("commit in block %d, reveal in blocks %d … %d", wc.Block, first, last)
	require.Greater(t, first, wc.Block)
	require.GreaterOrEqual(t, last, first)

	err = c.RevealWeights(ctx, v, wc)
	require.ErrorIs(t, err, client.ErrReveal, "a reveal before the reveal epoch")
	var de *client.DispatchError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "RevealTooEarly", de.Name)

	// Reveal in the first block of the reveal window.
	now, err = c.BestHeader(ctx)
	require.NoError(t, err)
	if first > now.Number+1 {
		require.NoError(t, h.Advance(ctx, uint64(first-now.Number-1)))
	}
	require.NoError(t, c.RevealWeights(ctx, v, wc))

	// The revealed weights are the chain's weights for the validator's uid.
	var vuid uint16
	for _, n := range ns {
		if n.Hotkey == v.Hotkey() {
			vuid = uint16(n.UID)
		}
	}
	row, err := c.Weights(ctx, harnessNetuid, bistro.UID(vuid))
	require.NoError(t, err)
	assert.Len(t, row, len(ns), "a weight on every uid")
}

// testOperatorCommitReveal drives the validator's weights through
// operator.CommitRevealChain, as a validator on a commit-reveal subnet
// does: the first call commits, calls before the reveal period are
// rate-limited (retried), the first call in it reveals the committed
// weights and commits the new ones.
func testOperatorCommitReveal(t *testing.T, h *chainHarness) {
	const tempo = 9
	ctx := t.Context()
	c := h.c
	v := h.validators[0]
	commitRevealOn(t, h, tempo)
	path, err := c.WeightsPath(ctx, harnessNetuid, v.Hotkey())
	require.NoError(t, err)
	require.Equal(t, scale.HashCommitReveal, path)

	head, err := c.Head(ctx)
	require.NoError(t, err)
	ns, err := c.Neurons(ctx, harnessNetuid, head.Number)
	require.NoError(t, err)
	var vuid uint16
	uids := make([]bistro.UID, len(ns))
	first, second := make([]uint16, len(ns)), make([]uint16, len(ns))
	for i, n := range ns {
		uids[i], first[i], second[i] = n.UID, uint16(10*(i+1)), uint16(1000-10*i)
		if n.Hotkey == v.Hotkey() {
			vuid = uint16(n.UID)
		}
	}
	// Commit at the start of an epoch, so the next blocks are too early.
	now, err := c.BestHeader(ctx)
	require.NoError(t, err)
	if k := (tempo + 1 - (uint64(now.Number)+1+harnessNetuid+1)%(tempo+1)) % (tempo + 1); k > 0 {
		require.NoError(t, h.Advance(ctx, k))
	}
	ch := operator.CommitRevealChain(c, c, nil)
	require.NoError(t, ch.SetWeights(ctx, v, harnessNetuid, uids, first, harnessVersionKey), "commit")
	err = ch.SetWeights(ctx, v, harnessNetuid, uids, second, harnessVersionKey)
	require.ErrorIs(t, err, bistro.ErrRateLimited, "before the reveal period: retried later")

	// Into the reveal period: the next call reveals the first weights.
	for i := 0; i < 3*(tempo+1); i++ {
		require.NoError(t, h.Advance(ctx, 1))
		err = ch.SetWeights(ctx, v, harnessNetuid, uids, second, harnessVersionKey)
		if !errors.Is(err, bistro.ErrRateLimited) {
			break
		}
	}
	require.NoError(t, err, "reveal and commit again")
	got, err := c.Weights(ctx, harnessNetuid, bistro.UID(vuid))
	require.NoError(t, err)
	require.NotEmpty(t, got, "revealed weights on chain")
	// The chain normalizes the row (max upscaled): compare the order.
	for i := 1; i < len(uids); i++ {
		assert.Less(t, got[uids[i-1]], got[uids[i]], "the first weights, revealed (%v)", got)
	}
}

// commitRevealOn turns hash commit-reveal on for the harness's subnet with
// epochs of tempo blocks, so that a reveal period comes soon, until the
// test ends.
func commitRevealOn(t *testing.T, h *chainHarness, tempo uint16) {
	t.Helper()
	ctx := t.Context()
	s := clienttest.NewSeeder(h.md)
	s.Set(scale.PalletSubtensor, "CommitRevealWeightsEnabled", true, uint16(harnessNetuid))
	s.Set(scale.PalletSubtensor, "Tempo", tempo, uint16(harnessNetuid))
	require.NoError(t, s.Err())
	require.NoError(t, h.ch.NewBlocks(ctx, 1))
	require.NoError(t, h.ch.SetStorage(ctx, s.KV()))
	t.Cleanup(func() {
		s := clienttest.NewSeeder(h.md)
		s.Set(scale.PalletSubtensor, "CommitRevealWeightsEnabled", false, uint16(harnessNetuid))
		s.Set(scale.PalletSubtensor, "Tempo", uint16(100), uint16(harnessNetuid))
		_ = h.ch.NewBlocks(context.Background(), 1)
		_ = h.ch.SetStorage(context.Background(), s.KV())
	})
	require.NoError(t, h.Advance(ctx, harnessRateLimit))
}
