package bistro_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// The tests below drive participants one head at a time on one goroutine —
// validators V0 (the lead: most stake) and V1, miners M0 and M1, stepped in
// that order at every head — and inject one fault at a chosen head: a chain
// call that fails, a bucket call that fails, a participant that stops. No
// localnet, no streams: the reader sees the state machine.

var errUnavailable = errors.New("503 service unavailable")

// testnet is a tiny network stepped by hand.
type testnet struct {
	t      *testing.T
	ctx    context.Context
	p      bistro.Params
	chain  *subtensor.Local
	win    bistro.Window
	stores map[string]*mem.Store // bucket name → store
	names  []string              // step order
	vals   map[string]*bistro.Validator
	miners map[string]*bistro.Miner
	down   map[string]bool
	held   map[string]map[uint64]bistro.Hash // participant → base window → digest
	confs  map[string]bistro.Config
	// before, when set, runs before each participant's step at each head.
	before func(n bistro.Block, who string)
	// reads, when set, is told of every read through a participant's
	// Buckets and may fail it: who reads key in owner's bucket.
	reads func(who, owner, key string) error
	// puts, when set, is told of every object a participant stored in its
	// own bucket, with its bytes, and may report a failure anyway (a lost
	// acknowledgement).
	puts func(who, key string, b []byte) error
}

type writeHook struct {
	*mem.Store
	net *testnet
	who string
}

func (w writeHook) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := w.Store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	if w.net.puts != nil {
		return w.net.puts(w.who, key, b)
	}
	return nil
}

type testBuckets struct {
	net *testnet
	who string
}

func (b testBuckets) Open(_ context.Context, _ bistro.Hotkey, c bistro.Commitment) (bistro.Storage, error) {
	owner := strings.ToUpper(strings.TrimPrefix(c.Bucket, "bucket-"))
	st, ok := b.net.stores[owner]
	if !ok {
		return nil, fmt.Errorf("%w: bucket %s", bistro.ErrNotFound, c.Bucket)
	}
	return readFaults{st, b.net, b.who, owner}, nil
}

type readFaults struct {
	*mem.Store
	net        *testnet
	who, owner string
}

func (r readFaults) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if r.net.reads != nil {
		if err := r.net.reads(r.who, r.owner, key); err != nil {
			return nil, err
		}
	}
	return r.Store.Get(ctx, key, max)
}

func newTestnet(t *testing.T, params ...func(p *bistro.Params)) *testnet {
	ctx := context.Background()
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 64, HeldOut: 4})
	require.NoError(t, err)
	cfg, err := train.NewMLPConfig(256, 4, 8, 16)
	require.NoError(t, err)
	genesis, err := train.InitMLP(cfg, sha256.Sum256([]byte("faults")))
	require.NoError(t, err)
	theta, err := bistro.ThetaHash(genesis)
	require.NoError(t, err)

	p := bistro.DefaultParams(1)
	p.BlocksPerWindow, p.Grace, p.FinalityLag, p.FailoverDelay = 6, 2, 1, 3
	p.MergeTimeMS = 30000
	p.PagesPerWindow, p.PageLength = 1, 64
	p.DatasetPages, p.DatasetDigest = ds.Pages(), ds.Digest()
	p.SliceFraction = 0.25
	p.LR = bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.5}
	p.Model, p.GenesisDigest = cfg, theta
	p.Aggregator = bistro.AggregatorParams{ClipFactor: 2, Trim: 0.2, MedianBelow: 3}
	p.Checks = bistro.CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}
	p.CheckpointInterval, p.Retention = 4, 8
	for _, f := range params {
		f(&p)
	}

	lo := subtensor.DefaultLocalOptions()
	lo.Seed, lo.FinalityLag = []byte("faults"), p.FinalityLag
	lo.Genesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sn := subtensor.DefaultSubnetOptions(p.NetUID)
	sn.MaxValidators, sn.Tempo, sn.ImmunityPeriod, sn.MinNonImmuneUIDs = 2, 6, 1<<20, 0
	sn.ActivityCutoff, sn.WeightsRateLimit, sn.WeightsVersionKey, sn.MinAllowedWeights = 1<<20, 5, bistro.ProtocolVersion, 1
	lo.Subnets = []subtensor.SubnetOptions{sn}
	chain, err := subtensor.NewLocal(lo)
	require.NoError(t, err)
	t.Cleanup(func() { chain.Close() })

	n := &testnet{t: t, ctx: ctx, chain: chain, stores: map[string]*mem.Store{},
		vals: map[string]*bistro.Validator{}, miners: map[string]*bistro.Miner{}, down: map[string]bool{},
		held: map[string]map[uint64]bistro.Hash{}, confs: map[string]bistro.Config{}}
	keys := map[string]*bistro.Keypair{}
	for i, name := range []string{"V0", "V1", "M0", "M1"} {
		k, err := bistro.KeypairFromURI("//faults-" + name)
		require.NoError(t, err)
		_, err = chain.Register(ctx, p.NetUID, k.Hotkey())
		require.NoError(t, err)
		if i < 2 {
			require.NoError(t, chain.AddStake(ctx, k.Hotkey(), uint64(2-i)*1_000_000_000_000))
		}
		keys[name] = k
		n.names = append(n.names, name)
	}
	head, err := chain.Advance(ctx, p.BlocksPerWindow) // an epoch grants the permits
	require.NoError(t, err)
	win, err := bistro.NewWindows(&p)
	require.NoError(t, err)
	p.FirstWindow = win.Of(head.Number) + 1
	n.p, n.win = p, win
	for _, name := range n.names {
		st := mem.New()
		n.stores[name] = st
		conf := bistro.Config{Params: &n.p, Signer: keys[name], Chain: chain, Buckets: testBuckets{n, name},
			Bucket: writeHook{st, n, name}, Announce: bistro.Commitment{Endpoint: "http://127.0.0.1:1", Bucket: "bucket-" + strings.ToLower(name), Region: "local"},
			Trainer: &train.MLP{Workers: 1}, Dataset: ds, Genesis: genesis.Clone(), Logger: testLogger(t, name)}
		n.held[name] = map[uint64]bistro.Hash{}
		conf.OnAdvance = func(w uint64, d bistro.Hash, _ bistro.Model) { n.held[name][w] = d }
		n.confs[name] = conf
		if name[0] == 'V' {
			n.newValidator(name, nil)
		} else {
			m, err := bistro.NewMiner(conf, nil)
			require.NoError(t, err)
			n.miners[name] = m
		}
	}
	return n
}

// newValidator (re)creates validator name, with agg as its merge when set.
func (n *testnet) newValidator(name string, agg bistro.Aggregator) *bistro.Validator {
	o := testValidatorOptions(name)
	o.Aggregator = agg
	v, err := bistro.NewValidator(n.confs[name], o)
	require.NoError(n.t, err)
	n.vals[name] = v
	return v
}

// testValidatorOptions are the testnet's validators' options.
func testValidatorOptions(name string) bistro.ValidatorOptions {
	return bistro.ValidatorOptions{SampleSize: 2, Sampler: bistro.NewSeededSampler(sha256.Sum256([]byte(name)))}
}

// block returns the first block of the network's window i (0-based).
func (n *testnet) block(i int) bistro.Block {
	b, _ := n.win.Start(n.p.FirstWindow + uint64(i))
	return b
}

// run steps every participant at every head until the network's window
// `windows` has started and its previous aggregates were applied.
func (n *testnet) run(windows int) {
	end := n.block(windows+1) + bistro.Block(n.p.Grace+n.p.FailoverDelay+n.p.FinalityLag+1)
	for {
		h := n.chain.Head()
		for _, name := range n.names {
			if n.down[name] {
				continue
			}
			if n.before != nil {
				n.before(h.Number, name)
			}
			var err error
			if v := n.vals[name]; v != nil {
				err = v.Step(n.ctx, h)
			} else {
				err = n.miners[name].Step(n.ctx, h)
			}
			require.NoError(n.t, err, "%s at block %d", name, h.Number)
		}
		if h.Number >= end {
			return
		}
		_, err := n.chain.Advance(n.ctx, 1)
		require.NoError(n.t, err)
	}
}

// states returns every participant's replica state.
func (n *testnet) states() map[string]bistro.State {
	out := map[string]bistro.State{}
	for name, v := range n.vals {
		out[name] = v.Stats().State
	}
	for name, m := range n.miners {
		out[name] = m.Stats().State
	}
	return out
}

// agree checks that every participant not down reached base(windows+1)
// of the network and that all held the same digest at every base.
func (n *testnet) agree(windows int) {
	want := n.p.FirstWindow + uint64(windows) + 1
	ref := map[uint64]bistro.Hash{}
	for _, name := range n.names {
		if n.down[name] {
			continue
		}
		_, ok := n.held[name][want]
		assert.True(n.t, ok, "%s reached base(%d)", name, want)
		for w, d := range n.held[name] {
			if r, ok := ref[w]; ok {
				assert.Equal(n.t, r, d, "%s's digest at base(%d)", name, w)
			} else {
				ref[w] = d
			}
		}
	}
}

// allPassed checks that no validator's ledger holds a failure of miner:
// no slice of it was missing or refused when it was sampled, and it passed.
func (n *testnet) allPassed(t *testing.T, miner string) {
	uid := bistro.UID(slices.Index(n.names, miner))
	for name, v := range n.vals {
		e, ok := v.Ledger().(interface {
			Entry(bistro.UID) (bistro.LedgerEntry, bool)
		}).Entry(uid)
		require.True(t, ok, "%s evaluated %s", name, miner)
		assert.Positive(t, e.Passes, "%s's passes of %s", name, miner)
		assert.Zero(t, e.Fails+e.Slashes, "%s's failures of %s (last: %s)", name, miner, e.LastReason)
	}
}

// once returns a function that fails the first call for which match is
// true, and counts the calls it failed.
func once(match func() bool) (func() error, *int) {
	var hits int
	return func() error {
		if hits == 0 && match() {
			hits++
			return errUnavailable
		}
		return nil
	}, &hits
}

// TestFaultsRetried: one failed call at the worst moment costs only the
// attempt of the participant that saw it; every duty is retried, the
// network keeps one state, and the lead keeps leading.
func TestFaultsRetried(t *testing.T) {
	const windows, at = 8, 3
	cases := []struct {
		name string
		// arm installs the fault on n; it returns the count of faults fired.
		arm func(n *testnet) *int
		// check looks at the outcome beyond agreement.
		check func(t *testing.T, n *testnet)
	}{
		{"lead's aggregate upload", func(n *testnet) *int {
			fail, hits := once(func() bool { return n.chain.Head().Number >= n.block(at) })
			n.stores["V0"].SetFaults(mem.Faults{Put: func(_ context.Context, key string) error {
				if strings.HasSuffix(key, "aggregate.safetensors") {
					return fail()
				}
				return nil
			}})
			return hits
		}, func(t *testing.T, n *testnet) {
			s := n.vals["V0"].Stats()
			assert.Positive(t, s.Retries)
			assert.Zero(t, n.vals["V1"].Stats().FailedOver, "the lead's retry came within its turn")
		}},
		{"lead's seed hash", func(n *testnet) *int {
			var hits int
			n.before = func(b bistro.Block, who string) {
				if who == "V0" && b == n.block(at)+bistro.Block(n.p.Grace+n.p.FinalityLag) && hits == 0 {
					hits++
					n.chain.FailNext(subtensor.OpFinalizedHash, errUnavailable)
				}
			}
			return &hits
		}, nil},
		{"lead's metagraph read", func(n *testnet) *int {
			var hits int
			n.before = func(b bistro.Block, who string) {
				if who == "V0" && b == n.block(at)+bistro.Block(n.p.Grace+n.p.FinalityLag) && hits == 0 {
					hits++
					n.chain.FailNext(subtensor.OpNeurons, errUnavailable)
				}
			}
			return &hits
		}, nil},
		{"validator's read of the aggregate", func(n *testnet) *int {
			fail, hits := once(func() bool { return n.chain.Head().Number >= n.block(at) })
			n.reads = func(who, owner, key string) error {
				if who == "V1" && owner == "V0" && strings.HasSuffix(key, "aggregate.safetensors") {
					return fail()
				}
				return nil
			}
			return hits
		}, func(t *testing.T, n *testnet) {
			assert.Zero(t, n.vals["V1"].Stats().Mismatches, "a transport error is no proof")
		}},
		{"validator's read of a slice", func(n *testnet) *int {
			fail, hits := once(func() bool { return n.chain.Head().Number >= n.block(at) })
			n.reads = func(who, owner, key string) error {
				if who == "V1" && owner == "M0" {
					return fail()
				}
				return nil
			}
			return hits
		}, func(t *testing.T, n *testnet) {
			n.allPassed(t, "M0")
		}},
		{"miner's upload", func(n *testnet) *int {
			fail, hits := once(func() bool { return n.chain.Head().Number >= n.block(at) })
			n.stores["M0"].SetFaults(mem.Faults{Put: func(context.Context, string) error { return fail() }})
			return hits
		}, func(t *testing.T, n *testnet) {
			s := n.miners["M0"].Stats()
			assert.Positive(t, s.Retries)
			assert.Zero(t, s.Missed, "the retry was on time")
			n.allPassed(t, "M0")
		}},
		{"weights", func(n *testnet) *int {
			var hits int
			n.before = func(b bistro.Block, who string) {
				// Once there is vested credit to weigh, V1's next call fails.
				if uids, _ := n.vals["V1"].Ledger().Weights(); who == "V1" && len(uids) > 0 && hits == 0 {
					hits++
					n.chain.FailNext(subtensor.OpSetWeights, errUnavailable)
				}
			}
			return &hits
		}, func(t *testing.T, n *testnet) {
			v0, v1 := n.vals["V0"].Stats(), n.vals["V1"].Stats()
			assert.Positive(t, v0.Retries+v1.Retries, "the failed call was retried")
			assert.Positive(t, v0.WeightsSet)
			assert.Positive(t, v1.WeightsSet)
		}},
		{"lead stops for good", func(n *testnet) *int {
			var hits int
			n.before = func(b bistro.Block, who string) {
				if who == "V0" && b == n.block(at) {
					hits++
					n.down["V0"] = true
				}
			}
			return &hits
		}, func(t *testing.T, n *testnet) {
			assert.Positive(t, n.vals["V1"].Stats().FailedOver, "the second validator published")
		}},
		{"lead's bucket unreachable for a window", func(n *testnet) *int {
			var hits int
			down := func() bool {
				b := n.chain.Head().Number
				return b >= n.block(at) && b < n.block(at+1)
			}
			n.stores["V0"].SetFaults(mem.Faults{
				Put: func(context.Context, string) error {
					if down() {
						hits++
						return errUnavailable
					}
					return nil
				},
				Get: func(_ context.Context, _ string, b []byte) ([]byte, error) {
					if down() {
						hits++
						return nil, errUnavailable
					}
					return b, nil
				},
			})
			return &hits
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestnet(t)
			hits := tc.arm(n)
			n.run(windows)
			require.Positive(t, *hits, "the fault fired")
			n.agree(windows)
			for name, v := range n.vals {
				if !n.down[name] {
					s := v.Stats()
					assert.Zero(t, s.Mismatches, name)
					assert.GreaterOrEqual(t, s.Windows, windows, "%s processed every window", name)
				}
			}
			for _, m := range n.miners {
				assert.GreaterOrEqual(t, m.Stats().Trained, windows-1, "miners kept training")
			}
			if tc.check != nil {
				tc.check(t, n)
			}
		})
	}
}

// testLogger logs warnings and errors to the test's log.
func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("p", name)
}

type tlog struct{ t *testing.T }

func (l tlog) Write(b []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestRetriedUploadSameBytes: an upload whose acknowledgement is lost is
// sent again with the same signed bytes (a fresh sr25519 signature would make
// two different files for one window: equivocation).
func TestRetriedUploadSameBytes(t *testing.T) {
	n := newTestnet(t)
	sent := map[string][][]byte{}
	lost := map[string]bool{}
	n.puts = func(who, key string, b []byte) error {
		sent[who+" "+key] = append(sent[who+" "+key], b)
		if (who == "M0" || strings.HasSuffix(key, "aggregate.safetensors")) && !lost[who+" "+key] &&
			n.chain.Head().Number >= n.block(2) {
			lost[who+" "+key] = true
			return errUnavailable // stored, but the caller is told otherwise
		}
		return nil
	}
	n.run(4)
	n.agree(4)
	retried := 0
	for k, bs := range sent {
		if lost[k] && len(bs) > 1 {
			retried++
			for _, b := range bs[1:] {
				assert.Equal(t, bs[0], b, "%s: the retry sends the same bytes", k)
			}
		}
	}
	assert.GreaterOrEqual(t, retried, 2, "a slice and an aggregate were sent again")
	n.allPassed(t, "M0")
}

// TestHealThroughDigestChain: a validator that could not see the lead's
// aggregate in time publishes its own by failover and applies it, while the
// rest of the network applied the lead's. The next aggregate names the
// network's base: the validator rewinds one window, applies the lead's
// aggregate instead, and holds the network's bits again.
func TestHealThroughDigestChain(t *testing.T) {
	for _, c := range []struct {
		name  string
		outer bistro.OuterOptimizer
	}{{"sgd", bistro.OuterPlain()}, {"nesterov", bistro.Nesterov(0.7, 0.9)}} {
		t.Run(c.name, func(t *testing.T) { testHealThroughDigestChain(t, c.outer) })
	}
}

// testHealThroughDigestChain: under nesterov/v1 the heal steps back the
// momentum with θ, or the digests (which cover it) would not agree.
func testHealThroughDigestChain(t *testing.T, outer bistro.OuterOptimizer) {
	n := newTestnet(t, func(p *bistro.Params) { p.OuterOptimizer = outer })
	const at = 2
	hidden := n.p.FirstWindow + at
	hide := bistro.AggregateKey(n.p.NetUID, hidden)
	n.reads = func(who, owner, key string) error {
		if who == "V1" && owner == "V0" && key == hide && n.chain.Head().Number < n.block(at+3) {
			return fmt.Errorf("%w: %s", bistro.ErrNotFound, key) // a stale listing, a lagging replica
		}
		return nil
	}
	n.run(6)
	n.agree(6)
	s := n.vals["V1"].Stats()
	assert.Equal(t, 1, s.FailedOver, "V1 published the hidden window's aggregate itself")
	assert.Equal(t, 1, s.Healed, "and healed to the lead's")
	assert.Zero(t, s.Mismatches)
	assert.GreaterOrEqual(t, s.Windows, 6)
	n.allPassed(t, "M0")
	n.allPassed(t, "M1")
}

// TestRefuseOnlyOnProof: a copy of a slice that cannot be read is retried,
// never a reason to refuse; an aggregate that the slices it names do not
// produce is refused, loudly, and the validator does not follow it.
func TestRefuseOnlyOnProof(t *testing.T) {
	t.Run("unreadable copy", func(t *testing.T) {
		n := newTestnet(t)
		copies := 0
		n.reads = func(who, owner, key string) error {
			if who == "V1" && owner == "M0" {
				return errUnavailable // V1 never reads M0: it needs the lead's copy
			}
			if who == "V1" && owner == "V0" && strings.Contains(key, "/used/") {
				copies++
				if copies == 1 {
					return errUnavailable
				}
			}
			return nil
		}
		n.run(5)
		n.agree(5)
		assert.Greater(t, copies, 1, "the copy was read again")
		assert.Zero(t, n.vals["V1"].Stats().Mismatches)
		assert.Positive(t, n.vals["V1"].Stats().Verified)
	})
	t.Run("forged aggregate", func(t *testing.T) {
		n := newTestnet(t)
		lead := n.newValidator("V0", bistro.Mean{})
		n.run(4)
		s := n.vals["V1"].Stats()
		assert.Positive(t, s.Mismatches, "the lead's merge is not the Params' aggregator")
		assert.Zero(t, s.Verified)
		assert.Less(t, s.State.Window, lead.Stats().State.Window, "V1 does not follow it")
	})
}

// countingChain counts subscriptions and the heads delivered.
type countingChain struct {
	*subtensor.Local
	subs, heads atomic.Int64
}

func (c *countingChain) Subscribe(ctx context.Context) (bistro.BlockStream, error) {
	s, err := c.Local.Subscribe(ctx)
	if err == nil {
		c.subs.Add(1)
	}
	return countingStream{s, c}, err
}

type countingStream struct {
	bistro.BlockStream
	c *countingChain
}

func (s countingStream) Next(ctx context.Context) (bistro.Head, error) {
	h, err := s.BlockStream.Next(ctx)
	if err == nil {
		s.c.heads.Add(1)
	}
	return h, err
}

// waitFor waits until cond holds, failing only when nothing happens for a
// long time (a stall, not a budget).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		require.Less(t, i, 120_000, "stalled waiting for %s", what)
		time.Sleep(time.Millisecond)
	}
}

// TestRunSubscribesAgain: a dropped block stream (a lost connection to the
// node) is not the end of a participant: Run subscribes again and goes on.
func TestRunSubscribesAgain(t *testing.T) {
	n := newTestnet(t)
	cc := &countingChain{Local: n.chain}
	conf := n.confs["M0"]
	conf.Chain = cc
	m, err := bistro.NewMiner(conf, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, "the first subscription", func() bool { return cc.subs.Load() == 1 })
	_, err = n.chain.Advance(ctx, 3) // lockstep: each block waits for the miner
	require.NoError(t, err)
	waitFor(t, "the heads", func() bool { return cc.heads.Load() >= 3 })

	n.chain.DropStreams()
	waitFor(t, "a new subscription", func() bool { return cc.subs.Load() == 2 })
	before := cc.heads.Load()
	_, err = n.chain.Advance(ctx, 3)
	require.NoError(t, err)
	waitFor(t, "heads on the new stream", func() bool { return cc.heads.Load() >= before+3 })
	cancel()
	assert.NoError(t, <-done, "Run ends cleanly when its context does")
}

// TestResyncFromCheckpoint: hidden from the lead's aggregates for two
// windows in a row, a validator publishes both by failover and builds on its
// own; one window of rewind cannot reach the network's state, so it reloads
// the last checkpoint and replays the network's aggregates.
func TestResyncFromCheckpoint(t *testing.T) {
	for _, c := range []struct {
		name  string
		outer bistro.OuterOptimizer
	}{{"sgd", bistro.OuterPlain()}, {"nesterov", bistro.Nesterov(0.7, 0.9)}} {
		t.Run(c.name, func(t *testing.T) { testResyncFromCheckpoint(t, c.outer) })
	}
}

// testResyncFromCheckpoint: under nesterov/v1 the checkpoint carries the
// momentum, and the replica replayed from it agrees with the live ones.
func testResyncFromCheckpoint(t *testing.T, outer bistro.OuterOptimizer) {
	n := newTestnet(t, func(p *bistro.Params) { p.OuterOptimizer = outer })
	const at = 3
	hide := map[string]bool{}
	for _, w := range []uint64{n.p.FirstWindow + at, n.p.FirstWindow + at + 1} {
		hide[bistro.AggregateKey(n.p.NetUID, w)] = true
	}
	n.reads = func(who, owner, key string) error {
		if who == "V1" && owner == "V0" && hide[key] && n.chain.Head().Number < n.block(at+4) {
			return fmt.Errorf("%w: %s", bistro.ErrNotFound, key)
		}
		return nil
	}
	n.run(8)
	n.agree(8)
	s := n.vals["V1"].Stats()
	assert.Equal(t, 2, s.FailedOver, "V1 published both hidden windows itself")
	assert.Zero(t, s.Mismatches, "what it judged on its own base is not held against the lead")
	assert.GreaterOrEqual(t, s.Windows, 8)
}
