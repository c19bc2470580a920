// Package chaintest is the contract suite of bistro's chain interfaces
// (bistro.Chain: Blocks, Metagraph, Commitments, Weights). subtensor.Local
// passes it, and so does the Subtensor client against a real runtime: the
// suite only waits for blocks, never assumes it can make them, and reads
// the subnet's limits from the Harness.
//
//	func TestChain(t *testing.T) {
//		chaintest.Run(t, newHarness(t))
//	}
package chaintest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// Harness gives the suite a chain with one subnet set up for it. The
// subtests run one after another on the same chain; each leaves it usable
// for the next.
type Harness interface {
	// Chain is the chain under test.
	Chain() bistro.Chain

	// Netuid is the subnet the suite uses.
	Netuid() uint16

	// Validators are at least two keys registered on Netuid that hold a
	// validator permit and non-zero stake.
	Validators() []bistro.Signer

	// Miners are at least one key registered on Netuid with no validator
	// permit (see PermitsForAll for a chain that permits every uid).
	Miners() []bistro.Signer

	// Stranger is a key not registered on Netuid.
	Stranger() bistro.Signer

	// WeightsRateLimit is Netuid's weights rate limit in blocks, and
	// WeightsVersionKey its weights version key. The subnet must have
	// commit-reveal off: Subtensor skips the rate limit under it.
	WeightsRateLimit() uint64
	WeightsVersionKey() uint64

	// Advance returns once at least n blocks after the head at its call
	// have been produced. A chain that makes blocks on its own just waits. The suite calls it either
	// with no stream open or while another goroutine reads every stream
	// it has open, so that a lockstep chain can make progress.
	Advance(ctx context.Context, n uint64) error

	// AddStake adds amount rao to hotkey's stake, in a block after the
	// head at its call, and returns once that block is produced.
	AddStake(ctx context.Context, hotkey bistro.Hotkey, amount uint64) error
}

// CommitmentLimiter is an optional Harness capability for a chain whose
// Commitments pallet is stricter than bistro's limits: at most maxFields
// fields per commitment (fewer than bistro.MaxCommitmentFields), and
// rateLimit blocks a hotkey must wait between two commitments (0: none).
// Subtensor runtimes before 2025 take 1 field every 100 blocks. Without it
// the suite assumes bistro's limits and no wait, as Subtensor has now.
type CommitmentLimiter interface {
	CommitmentLimits() (maxFields int, rateLimit uint64)
}

// PermitsForAll is an optional Harness capability for a chain that gives
// every registered uid a validator permit, so that no miner can be without
// one: the raonet test runtime of ../shared/fixtures (spec 218) runs a mock
// epoch at every block that does. When EveryUIDPermitted reports true the
// suite asks only that Miners be registered, and does not check the
// no-permit refusal of set_weights.
type PermitsForAll interface {
	EveryUIDPermitted() bool
}

func everyUIDPermitted(h Harness) bool {
	p, ok := h.(PermitsForAll)
	return ok && p.EveryUIDPermitted()
}

// commitmentLimits returns h's commitment limits.
func commitmentLimits(h Harness) (int, uint64) {
	if l, ok := h.(CommitmentLimiter); ok {
		return l.CommitmentLimits()
	}
	return bistro.MaxCommitmentFields, 0
}

// Stall is how long a subtest may go without a new block: the suite
// watches the chain's head and ends a subtest, failing it, once no block
// came for Stall. It bounds no subtest's total time: a slow chain is
// waited for as long as it keeps making blocks.
var Stall = 3 * time.Minute

// Run runs the suite against h. While a subtest runs, a goroutine of the
// suite reads the chain's heads on a stream of its own (see Stall).
func Run(t *testing.T, h Harness) {
	t.Helper()
	require.GreaterOrEqual(t, len(h.Validators()), 2, "Harness.Validators")
	require.NotEmpty(t, h.Miners(), "Harness.Miners")
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, h Harness)
	}{
		{"BlockStream", testBlockStream},
		{"Finality", testFinality},
		{"Neurons", testNeurons},
		{"StakeHistory", testStakeHistory},
		{"Commitments", testCommitments},
		{"CommitmentLimits", testCommitmentLimits},
		{"WeightsValidation", testWeightsValidation},
		{"WeightsRateLimit", testWeightsRateLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, stop := watch(t, h.Chain(), Stall)
			defer stop()
			tc.run(t, ctx, h)
		})
	}
}

// watch returns the context of one subtest, cancelled once c has made no
// new block for stall (t then fails, saying at which block), and stop,
// which ends the watch and waits for its goroutines. The head is read on a
// stream of the watch's own, by a goroutine of its own, as Harness.Advance
// allows, so a lockstep chain is never held by it.
func watch(t *testing.T, c bistro.Chain, stall time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		streamErr error // why the watch's stream last ended, under mu
	)
	heads := make(chan bistro.Head)
	wg.Go(func() { // reads the heads, subscribing again when the stream ends
		for ctx.Err() == nil {
			s, err := c.Subscribe(ctx)
			if err == nil {
				for {
					var hd bistro.Head
					if hd, err = s.Next(ctx); err != nil {
						break
					}
					select {
					case heads <- hd:
					case <-ctx.Done():
					}
				}
				s.Close()
			}
			mu.Lock()
			streamErr = err
			mu.Unlock()
			select { // a pause before subscribing again
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	wg.Go(func() { // the stall detector: the timer restarts at each new head
		timer := time.NewTimer(stall)
		defer timer.Stop()
		var last bistro.Head
		seen := false
		for {
			select {
			case <-ctx.Done():
				return
			case hd := <-heads:
				if !seen || hd.Number > last.Number {
					last, seen = hd, true
					timer.Reset(stall)
				}
			case <-timer.C:
				why := ""
				mu.Lock()
				if streamErr != nil {
					why = fmt.Sprintf(" (the watch's stream: %v)", streamErr)
				}
				mu.Unlock()
				if seen {
					t.Errorf("chaintest: the chain made no block for %v: the head stayed at #%d%s", stall, last.Number, why)
				} else {
					t.Errorf("chaintest: no head read from the chain in %v%s", stall, why)
				}
				cancel()
				return
			}
		}
	})
	return ctx, func() {
		cancel()
		wg.Wait()
	}
}

// follow subscribes, has the harness advance n blocks while it reads, and
// returns the n+1 heads it read: the head at Subscribe and the n after it.
func follow(t *testing.T, ctx context.Context, h Harness, n int) []bistro.Head {
	t.Helper()
	s, err := h.Chain().Subscribe(ctx)
	require.NoError(t, err, "Subscribe")
	defer s.Close()
	errc := make(chan error, 1)
	if n > 0 {
		go func() { errc <- h.Advance(ctx, uint64(n)) }()
	} else {
		errc <- nil
	}
	heads := make([]bistro.Head, 0, n+1)
	for range n + 1 {
		hd, err := s.Next(ctx)
		if err != nil {
			// Let Advance see the stream go before reporting.
			s.Close()
			<-errc
			require.NoError(t, err, "Next after %d heads", len(heads))
		}
		heads = append(heads, hd)
	}
	require.NoError(t, s.Close())
	require.NoError(t, <-errc, "Harness.Advance")
	return heads
}

// head returns the current head.
func head(t *testing.T, ctx context.Context, h Harness) bistro.Head {
	t.Helper()
	return follow(t, ctx, h, 0)[0]
}

func testBlockStream(t *testing.T, ctx context.Context, h Harness) {
	const n = 6
	c := h.Chain()
	// Two streams read the same blocks; the second one is read by its own
	// goroutine, as two participants would.
	s2, err := c.Subscribe(ctx)
	require.NoError(t, err)
	other := make(chan []bistro.Head, 1)
	go func() {
		defer s2.Close()
		var got []bistro.Head
		for range n + 1 {
			hd, err := s2.Next(ctx)
			if err != nil {
				break
			}
			got = append(got, hd)
		}
		other <- got
	}()
	heads := follow(t, ctx, h, n)
	got2 := <-other

	for i, hd := range heads {
		assert.LessOrEqual(t, hd.Finalized, hd.Number, "head %d: finalized above number", hd.Number)
		assert.False(t, hd.Hash.IsZero(), "head %d: zero hash", hd.Number)
		if i == 0 {
			continue
		}
		prev := heads[i-1]
		assert.Equal(t, prev.Number+1, hd.Number, "heads out of order or skipped")
		assert.False(t, hd.Time.Before(prev.Time), "head %d: time %v before %v", hd.Number, hd.Time, prev.Time)
		assert.GreaterOrEqual(t, hd.Finalized, prev.Finalized, "head %d: finality went back", hd.Number)
		assert.NotEqual(t, prev.Hash, hd.Hash, "heads %d and %d: same hash", prev.Number, hd.Number)
	}
	// The other stream started no later, so it saw a run of consecutive
	// heads that overlaps ours; where they overlap they agree.
	require.NotEmpty(t, got2, "second stream read nothing")
	byNum := map[bistro.Block]bistro.Head{}
	for _, hd := range heads {
		byNum[hd.Number] = hd
	}
	for i, hd := range got2 {
		if i > 0 {
			assert.Equal(t, got2[i-1].Number+1, hd.Number, "second stream: out of order or skipped")
		}
		if mine, ok := byNum[hd.Number]; ok {
			assert.Equal(t, mine.Hash, hd.Hash, "streams disagree on block %d", hd.Number)
		}
	}

	// A closed stream says so and holds nothing up.
	s, err := c.Subscribe(ctx)
	require.NoError(t, err)
	_, err = s.Next(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Next(ctx)
	assert.Error(t, err, "Next after Close")
	follow(t, ctx, h, 1)

	// A cancelled context ends Next promptly.
	s, err = c.Subscribe(ctx)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Next(ctx)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Next(cctx); err != nil {
		assert.ErrorIs(t, err, context.Canceled)
	}
}

func testFinality(t *testing.T, ctx context.Context, h Harness) {
	c := h.Chain()
	hd := head(t, ctx, h)
	target := hd.Number + 1

	_, err := c.FinalizedHash(ctx, target)
	require.ErrorIs(t, err, bistro.ErrNotFinalized, "block %d above head %d", target, hd.Number)
	_, err = c.FinalizedHash(ctx, hd.Number+1_000_000)
	require.ErrorIs(t, err, bistro.ErrNotFinalized, "far future block")
	if hd.Finalized < hd.Number {
		_, err = c.FinalizedHash(ctx, hd.Number)
		require.ErrorIs(t, err, bistro.ErrNotFinalized, "head %d, finalized %d", hd.Number, hd.Finalized)
	}
	// Exactly the blocks up to the finalized one: just above it is not
	// final, unless finality moved meanwhile (a chain that runs on its own).
	_, err = c.FinalizedHash(ctx, hd.Finalized)
	require.NoError(t, err, "the head's finalized block %d", hd.Finalized)
	if _, err = c.FinalizedHash(ctx, hd.Finalized+1); err == nil {
		require.Greater(t, head(t, ctx, h).Finalized, hd.Finalized,
			"FinalizedHash(%d) answered while block %d is the finalized one", hd.Finalized+1, hd.Finalized)
	} else {
		require.ErrorIs(t, err, bistro.ErrNotFinalized)
	}

	// Follow until target is finalized; a generous bound on the lag.
	var seen bistro.Head
	var fin bistro.Block
	for range 64 {
		for _, x := range follow(t, ctx, h, 1) {
			if x.Number == target {
				seen = x
			}
			fin = max(fin, x.Finalized)
		}
		if fin >= target {
			break
		}
	}
	require.GreaterOrEqual(t, fin, target, "block %d never finalized", target)
	got, err := c.FinalizedHash(ctx, target)
	require.NoError(t, err)
	if seen.Number == target {
		assert.Equal(t, seen.Hash, got, "finalized hash differs from the head's")
	}
	follow(t, ctx, h, 2)
	again, err := c.FinalizedHash(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, got, again, "finalized hash changed")

	genesis, err := c.FinalizedHash(ctx, 0)
	require.NoError(t, err, "genesis")
	assert.NotEqual(t, got, genesis)
}

// neurons returns the neurons at the current head, and the head.
func neurons(t *testing.T, ctx context.Context, h Harness) ([]bistro.Neuron, bistro.Block) {
	t.Helper()
	at := head(t, ctx, h).Number
	ns, err := h.Chain().Neurons(ctx, h.Netuid(), at)
	require.NoError(t, err, "Neurons at %d", at)
	return ns, at
}

func find(ns []bistro.Neuron, k bistro.Hotkey) (bistro.Neuron, bool) {
	for _, n := range ns {
		if n.Hotkey == k {
			return n, true
		}
	}
	return bistro.Neuron{}, false
}

func testNeurons(t *testing.T, ctx context.Context, h Harness) {
	ns, at := neurons(t, ctx, h)
	for i, n := range ns {
		assert.Equal(t, bistro.UID(i), n.UID, "neurons not sorted by uid or with a gap")
		assert.LessOrEqual(t, n.Registered, at, "uid %d registered after the block asked for", n.UID)
		assert.True(t, n.Incentive >= 0 && n.Incentive <= 1, "uid %d: incentive %v", n.UID, n.Incentive)
	}
	for _, v := range h.Validators() {
		n, ok := find(ns, v.Hotkey())
		require.True(t, ok, "validator %s not in the metagraph", v.Hotkey())
		assert.True(t, n.ValidatorPermit, "validator %s has no permit", v.Hotkey())
		assert.NotZero(t, n.Stake, "validator %s has no stake", v.Hotkey())
	}
	for _, m := range h.Miners() {
		n, ok := find(ns, m.Hotkey())
		require.True(t, ok, "miner %s not in the metagraph", m.Hotkey())
		if !everyUIDPermitted(h) {
			assert.False(t, n.ValidatorPermit, "miner %s has a permit", m.Hotkey())
		}
	}
	_, ok := find(ns, h.Stranger().Hotkey())
	assert.False(t, ok, "stranger in the metagraph")

	_, err := h.Chain().Neurons(ctx, h.Netuid(), at+1_000_000)
	assert.Error(t, err, "neurons of a future block")
}

func testStakeHistory(t *testing.T, ctx context.Context, h Harness) {
	c := h.Chain()
	v := h.Validators()[0].Hotkey()
	before, at0 := neurons(t, ctx, h)
	n0, ok := find(before, v)
	require.True(t, ok)

	const amount = 1_000_000
	require.NoError(t, h.AddStake(ctx, v, amount))
	follow(t, ctx, h, 1)

	after, at1 := neurons(t, ctx, h)
	require.Greater(t, at1, at0)
	n1, ok := find(after, v)
	require.True(t, ok)
	// A real chain may pay emission into stake meanwhile: at least.
	assert.GreaterOrEqual(t, n1.Stake, n0.Stake+amount, "stake after AddStake")

	again, err := c.Neurons(ctx, h.Netuid(), at0)
	require.NoError(t, err)
	assert.Equal(t, before, again, "neurons at past block %d changed", at0)
}

func testCommitments(t *testing.T, ctx context.Context, h Harness) {
	c := h.Chain()
	netuid := h.Netuid()
	m := h.Miners()[0]

	_, _, err := c.Commitment(ctx, netuid, h.Stranger().Hotkey())
	require.ErrorIs(t, err, bistro.ErrNotFound, "commitment of a key that never committed")

	maxFields, rateLimit := commitmentLimits(h)
	fields := [][]byte{
		bytes.Repeat([]byte{'a'}, bistro.MaxCommitmentField),
		[]byte("https://example.com"),
		{},
	}
	fields = fields[:min(len(fields), maxFields)]
	at := head(t, ctx, h).Number
	require.NoError(t, c.Commit(ctx, m, netuid, fields))
	follow(t, ctx, h, 1)
	got, block, err := c.Commitment(ctx, netuid, m.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, normalize(fields), normalize(got))
	assert.Greater(t, block, at, "commitment block")

	// The caller owns what it got.
	got[0][0] = 'z'
	got2, _, err := c.Commitment(ctx, netuid, m.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, byte('a'), got2[0][0], "Commitment returned the chain's buffer")

	// A new commitment replaces the old one, once the chain's rate limit
	// (if it has one) allows.
	repl := [][]byte{[]byte("b"), []byte("c")}
	repl = repl[:min(len(repl), maxFields)]
	if rateLimit > 0 {
		err := c.Commit(ctx, m, netuid, repl)
		require.ErrorIs(t, err, bistro.ErrRateLimited, "a commitment within %d blocks of the last", rateLimit)
		require.NoError(t, h.Advance(ctx, rateLimit))
	}
	require.NoError(t, c.Commit(ctx, m, netuid, repl))
	follow(t, ctx, h, 1)
	got, block2, err := c.Commitment(ctx, netuid, m.Hotkey())
	require.NoError(t, err)
	assert.Equal(t, repl, got)
	assert.Greater(t, block2, block)
}

// normalize maps empty fields to nil-free empty slices so that a decoder's
// nil and []byte{} compare equal.
func normalize(fs [][]byte) [][]byte {
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = append([]byte{}, f...)
	}
	return out
}

func testCommitmentLimits(t *testing.T, ctx context.Context, h Harness) {
	c := h.Chain()
	netuid := h.Netuid()
	m := h.Miners()[0]
	maxFields, _ := commitmentLimits(h)
	tooMany := [][]byte{{1}, {2}, {3}, {4}}[:min(bistro.MaxCommitmentFields, maxFields)+1]
	require.Greater(t, len(tooMany), maxFields)
	err := c.Commit(ctx, m, netuid, tooMany)
	assert.ErrorIs(t, err, subtensor.ErrCommitmentLimit, "%d fields", len(tooMany))

	tooLong := [][]byte{bytes.Repeat([]byte{1}, bistro.MaxCommitmentField+1)}
	err = c.Commit(ctx, m, netuid, tooLong)
	assert.ErrorIs(t, err, subtensor.ErrCommitmentLimit, "%d-byte field", bistro.MaxCommitmentField+1)

	err = c.Commit(ctx, h.Stranger(), netuid, [][]byte{[]byte("x")})
	assert.ErrorIs(t, err, subtensor.ErrNotRegistered, "commit by an unregistered key")
}

// allUIDs returns every uid of the subnet with weight 1, the owner's uid
// included when the validator wants to (the epoch drops self weights).
func allUIDs(ns []bistro.Neuron) ([]bistro.UID, []uint16) {
	uids := make([]bistro.UID, len(ns))
	ws := make([]uint16, len(ns))
	for i, n := range ns {
		uids[i] = n.UID
		ws[i] = 1
	}
	return uids, ws
}

func testWeightsValidation(t *testing.T, ctx context.Context, h Harness) {
	c := h.Chain()
	netuid := h.Netuid()
	v := h.Validators()[1]
	vk := h.WeightsVersionKey()
	// Past any rate limit, so that each refusal below is for its own reason.
	require.NoError(t, h.Advance(ctx, h.WeightsRateLimit()))
	ns, _ := neurons(t, ctx, h)
	uids, ws := allUIDs(ns)
	n := bistro.UID(len(ns))

	type refusal struct {
		name   string
		signer bistro.Signer
		uids   []bistro.UID
		ws     []uint16
		vk     uint64
		want   error
	}
	cases := []refusal{
		{"lengths differ", v, uids, ws[:len(ws)-1], vk, subtensor.ErrInvalidWeights},
		{"duplicate uid", v, []bistro.UID{uids[0], uids[0]}, []uint16{1, 1}, vk, subtensor.ErrInvalidWeights},
		{"uid does not exist", v, append(append([]bistro.UID{}, uids[1:]...), n+7), ws, vk, subtensor.ErrInvalidWeights},
		{"not registered", h.Stranger(), uids, ws, vk, subtensor.ErrNotRegistered},
	}
	if !everyUIDPermitted(h) {
		cases = append(cases, refusal{"no permit", h.Miners()[0], uids, ws, vk, subtensor.ErrNoValidatorPermit})
	}
	if vk > 0 {
		cases = append(cases, refusal{"version key too low", v, uids, ws, vk - 1, subtensor.ErrWeightsVersion})
	}
	for _, tc := range cases {
		err := c.SetWeights(ctx, tc.signer, netuid, tc.uids, tc.ws, tc.vk)
		assert.ErrorIs(t, err, tc.want, tc.name)
		assert.NotErrorIs(t, err, bistro.ErrRateLimited, tc.name)
	}
	// None of the refusals counted against the rate limit.
	require.NoError(t, c.SetWeights(ctx, v, netuid, uids, ws, vk), "valid weights after refusals")
}

func testWeightsRateLimit(t *testing.T, ctx context.Context, h Harness) {
	c := h.Chain()
	netuid := h.Netuid()
	v := h.Validators()[0]
	vk := h.WeightsVersionKey()
	rl := h.WeightsRateLimit()
	require.NoError(t, h.Advance(ctx, rl))
	ns, _ := neurons(t, ctx, h)
	uids, ws := allUIDs(ns)

	require.NoError(t, c.SetWeights(ctx, v, netuid, uids, ws, vk), "first weights")
	if rl == 0 {
		require.NoError(t, c.SetWeights(ctx, v, netuid, uids, ws, vk), "no rate limit")
		return
	}
	// The head once the first weights are accepted: they are in its next
	// block (Local), or in it (a real chain returns after inclusion).
	set := head(t, ctx, h).Number
	err := c.SetWeights(ctx, v, netuid, uids, ws, vk)
	require.ErrorIs(t, err, bistro.ErrRateLimited, "weights again at once")
	if rl > 2 {
		// Still refused rl-2 blocks on. Counted from set, not from now: on
		// a real chain the refused extrinsic took a block of its own.
		if now := head(t, ctx, h).Number; set+bistro.Block(rl-2) > now {
			require.NoError(t, h.Advance(ctx, uint64(set+bistro.Block(rl-2)-now)))
		}
		err = c.SetWeights(ctx, v, netuid, uids, ws, vk)
		require.ErrorIs(t, err, bistro.ErrRateLimited, "weights again after %d blocks", rl-2)
	}
	require.NoError(t, h.Advance(ctx, rl))
	require.NoError(t, c.SetWeights(ctx, v, netuid, uids, ws, vk), "weights after the rate limit")
}
