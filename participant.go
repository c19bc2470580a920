package bistro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Buckets opens other participants' buckets from their commitments. The
// real implementation (storage/s3) applies the endpoint rule (CheckEndpoint)
// and refuses, when dialling, every address PublicAddr rejects; a local
// network maps buckets to directories. Implementations must be safe for concurrent use.
type Buckets interface {
	Open(ctx context.Context, owner Hotkey, c Commitment) (Storage, error)
}

// Config is what a miner or a validator needs. Every dependency is explicit;
// Validate says which one is missing.
type Config struct {
	// Params are the subnet's; every file names their digest.
	Params *Params
	// Signer is the participant's hotkey.
	Signer Signer
	// Chain is the chain (blocks, metagraph, commitments, weights).
	Chain Chain
	// Buckets opens other participants' buckets.
	Buckets Buckets
	// Bucket is the participant's own bucket, written to; Announce describes
	// it on chain (its Params digest is filled in).
	Bucket   Storage
	Announce Commitment
	// Trainer and Dataset compute updates; Genesis is θ₀, whose θ hash must
	// be Params.GenesisDigest. The participant takes ownership of Genesis.
	Trainer Trainer
	Dataset Dataset
	Genesis Model
	// Logger receives structured logs; nil discards.
	Logger *slog.Logger
	// Clock times the work for the stats (SystemClock when nil); nothing
	// the protocol decides depends on it.
	Clock Clock
	// FetchConcurrency is how many files are fetched in parallel at first
	// (default 8). A validator then sizes it from the throughput it
	// measures, up to MaxFetchConcurrency (default 64; set both equal for a
	// fixed size) and FetchMemory / the largest slice file.
	FetchConcurrency    int
	MaxFetchConcurrency int
	// OnAdvance, when set, is called on the participant's goroutine each
	// time its replica reaches a new base: base(window) with state digest d.
	// The model must not be kept or changed. Local networks use it to check
	// that every honest participant holds the same bits.
	OnAdvance func(window uint64, d Hash, m Model)
}

// Validate reports the first missing or inconsistent dependency.
func (c *Config) Validate() error {
	switch {
	case c.Params == nil:
		return errors.New("bistro: config: no Params")
	case c.Signer == nil:
		return errors.New("bistro: config: no Signer")
	case c.Chain == nil:
		return errors.New("bistro: config: no Chain")
	case c.Buckets == nil:
		return errors.New("bistro: config: no Buckets")
	case c.Bucket == nil:
		return errors.New("bistro: config: no Bucket")
	case c.Trainer == nil:
		return errors.New("bistro: config: no Trainer")
	case c.Dataset == nil:
		return errors.New("bistro: config: no Dataset")
	case c.Genesis == nil:
		return errors.New("bistro: config: no Genesis model")
	case c.FetchConcurrency < 0:
		return fmt.Errorf("bistro: config: FetchConcurrency %d < 0", c.FetchConcurrency)
	case c.MaxFetchConcurrency < 0:
		return fmt.Errorf("bistro: config: MaxFetchConcurrency %d < 0", c.MaxFetchConcurrency)
	}
	return c.Params.Validate()
}

// core is the state every participant keeps: the replica of the shared model
// and the derivations of Params.
type core struct {
	cfg    Config
	p      *Params
	digest Hash // params digest
	win    Window
	pages  PageAssigner
	sel    SliceSelector
	log    *slog.Logger
	me     Hotkey

	model  Model
	outer  *Outer // the outer optimizer's state, part of the replica
	window uint64 // model = base(window)
	state  Hash   // d(window)

	undo *undoRecord // steps back the last advance (heal)

	failing map[string]string // duty → its last error (participant's goroutine)

	mu          sync.Mutex
	checkpoints int               // checkpoints loaded into the replica
	seeds       map[uint64]seeded // recent windows' seeds and indices
	rankCache   map[uint64][]peer // publishing ranks per window
}

type seeded struct {
	seed Hash
	idx  Indices
}

func newCore(cfg Config) (*core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := cfg.Params
	win, err := NewWindows(p)
	if err != nil {
		return nil, err
	}
	pa, err := NewPages(p)
	if err != nil {
		return nil, err
	}
	sel, err := NewSlices(p)
	if err != nil {
		return nil, err
	}
	if ds := cfg.Dataset; ds.Digest() != p.DatasetDigest || ds.Pages() < p.DatasetPages || ds.PageLength() != int(p.PageLength) {
		return nil, fmt.Errorf("%w: the dataset (digest %s, %d pages of %d) is not the one Params pin (%s, %d pages of %d)",
			ErrInvalidParams, ds.Digest(), ds.Pages(), ds.PageLength(), p.DatasetDigest, p.DatasetPages, p.PageLength)
	}
	if n := cfg.Genesis.Layout().Len(); n != p.Model.Parameters {
		return nil, fmt.Errorf("%w: the genesis model has %d parameters, Params say %d", ErrInvalidParams, n, p.Model.Parameters)
	}
	theta, err := ThetaHash(cfg.Genesis)
	if err != nil {
		return nil, err
	}
	if theta != p.GenesisDigest {
		return nil, fmt.Errorf("%w: genesis model hashes to %s, Params pin %s", ErrWrongBase, theta, p.GenesisDigest)
	}
	if cfg.FetchConcurrency == 0 {
		cfg.FetchConcurrency = 8
	}
	if cfg.MaxFetchConcurrency == 0 {
		cfg.MaxFetchConcurrency = max(64, cfg.FetchConcurrency)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	outer, err := NewOuter(p, cfg.Genesis.Layout())
	if err != nil {
		return nil, err
	}
	me := cfg.Signer.Hotkey()
	return &core{outer: outer, cfg: cfg, p: p, digest: p.Digest(), win: win, pages: pa, sel: sel,
		log: log.With("hotkey", me.String()), me: me,
		model: cfg.Genesis, window: p.FirstWindow, state: p.GenesisDigest, seeds: map[uint64]seeded{}, rankCache: map[uint64][]peer{}, failing: map[string]string{}}, nil
}

// CheckpointLoads returns how many checkpoints the replica was loaded from
// (catching up, or re-syncing after a divergence).
func (c *core) CheckpointLoads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkpoints
}

// announce commits the participant's bucket, unless the chain already holds
// exactly this commitment (a restart: the Commitments pallet rate-limits
// changes, and an identical one needs none).
func (c *core) announce(ctx context.Context) error {
	cm := c.cfg.Announce
	cm.Params = c.digest
	fields, err := cm.Fields()
	if err != nil {
		return err
	}
	if have, _, err := c.cfg.Chain.Commitment(ctx, c.p.NetUID, c.me); err == nil && slices.EqualFunc(have, fields, bytes.Equal) {
		c.log.Debug("bucket already announced")
		return nil
	}
	return c.cfg.Chain.Commit(ctx, c.cfg.Signer, c.p.NetUID, fields)
}

// failed logs that a duty failed and is retried at the next head: once per
// distinct error, so that a duty failing at every head does not flood logs.
func (c *core) failed(duty string, err error) {
	if msg := err.Error(); c.failing[duty] != msg {
		c.failing[duty] = msg
		c.log.Warn("retrying at the next head", "duty", duty, "err", err)
	}
}

// recovered logs, once, that a failing duty succeeded.
func (c *core) recovered(duty string) {
	if _, ok := c.failing[duty]; ok {
		delete(c.failing, duty)
		c.log.Info("recovered", "duty", duty)
	}
}

// seed returns the finalized seed of window w and its slice indices.
func (c *core) seed(ctx context.Context, w uint64) (Hash, Indices, error) {
	c.mu.Lock()
	s, ok := c.seeds[w]
	c.mu.Unlock()
	if ok {
		return s.seed, s.idx, nil
	}
	sb, err := c.win.SeedBlock(w)
	if err != nil {
		return Hash{}, nil, err
	}
	h, err := c.cfg.Chain.FinalizedHash(ctx, sb)
	if err != nil {
		return Hash{}, nil, err
	}
	idx, err := c.sel.Select(h, c.model.Layout())
	if err != nil {
		return Hash{}, nil, err
	}
	c.mu.Lock()
	c.seeds[w] = seeded{h, idx}
	for old := range c.seeds {
		if old+4 < w {
			delete(c.seeds, old)
		}
	}
	c.mu.Unlock()
	return h, idx, nil
}

// peer is a neuron with a valid commitment for this Params.
type peer struct {
	Neuron
	commit Commitment
}

// peers returns the neurons at block at that committed a bucket for this
// Params digest, sorted by uid.
func (c *core) peers(ctx context.Context, at Block) ([]peer, error) {
	ns, err := c.cfg.Chain.Neurons(ctx, c.p.NetUID, at)
	if err != nil {
		return nil, fmt.Errorf("neurons at block %d: %w", at, err)
	}
	var out []peer
	for _, n := range ns {
		fields, _, err := c.cfg.Chain.Commitment(ctx, c.p.NetUID, n.Hotkey)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("commitment of uid %d: %w", n.UID, err)
		}
		cm, err := ParseCommitment(fields)
		if err != nil || cm.Params != c.digest {
			continue
		}
		out = append(out, peer{n, cm})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, nil
}

// Ranks orders the validators that may publish a window's aggregate
// (SPEC.md §9): peers with a validator permit, by stake (highest first),
// ties to the lowest uid. Rank 0 is the lead.
func rankPeers(peers []peer) []peer {
	var out []peer
	for _, p := range peers {
		if p.ValidatorPermit {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Stake != out[j].Stake {
			return out[i].Stake > out[j].Stake
		}
		return out[i].UID < out[j].UID
	})
	return out
}

// ranks returns the publishing ranks of window w: peers at the window's first
// block. The answer is kept: it is fixed by the chain at that block.
func (c *core) ranks(ctx context.Context, w uint64) ([]peer, error) {
	c.mu.Lock()
	r, ok := c.rankCache[w]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	start, err := c.win.Start(w)
	if err != nil {
		return nil, err
	}
	ps, err := c.peers(ctx, start)
	if err != nil {
		return nil, err
	}
	r = rankPeers(ps)
	c.mu.Lock()
	c.rankCache[w] = r
	for old := range c.rankCache {
		if old+c.p.Retention < w {
			delete(c.rankCache, old)
		}
	}
	c.mu.Unlock()
	return r, nil
}

// errBadFile marks a fetched object whose bytes were refused (malformed,
// wrong signature, digests or shape, over the size bound): the owner's
// fault, final. Any other fetch error is transport, worth retrying.
type errBadFile struct{ err error }

func (e *errBadFile) Error() string { return e.err.Error() }
func (e *errBadFile) Unwrap() error { return e.err }

// badFile reports whether err says the object's bytes were refused.
func badFile(err error) bool {
	var b *errBadFile
	return errors.As(err, &b)
}

// fetchRaw reads an object of at most max bytes from owner's bucket.
// ErrNotFound (wrapped) means the object is absent; an *errBadFile that the
// bucket cannot be used or the object is over the bound; anything else is a
// transport error.
func (c *core) fetchRaw(ctx context.Context, owner peer, key string, max int64) ([]byte, error) {
	st, err := c.cfg.Buckets.Open(ctx, owner.Hotkey, owner.commit)
	if err != nil {
		if errors.Is(err, ErrEndpoint) || errors.Is(err, ErrBadCommitment) {
			return nil, &errBadFile{fmt.Errorf("bucket of %s: %w", owner.Hotkey, err)}
		}
		return nil, fmt.Errorf("bucket of %s: %w", owner.Hotkey, err)
	}
	b, err := st.Get(ctx, key, max)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, &errBadFile{fmt.Errorf("%s: %w", key, err)}
		}
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return b, nil
}

// fetch reads a protocol file from owner's bucket and decodes it with e. It
// returns the bytes with the file. ErrNotFound (wrapped) means the object is
// absent; an *errBadFile that its bytes were refused; anything else is a
// transport error.
func (c *core) fetch(ctx context.Context, owner peer, key string, e *Expect) (*File, []byte, error) {
	f, _, _, b, err := c.fetchDigests(ctx, owner, key, e)
	return f, b, err
}

// fetchDigests is fetch that also returns the file's payload hash and its
// values' digest (DecodeDigests).
func (c *core) fetchDigests(ctx context.Context, owner peer, key string, e *Expect) (*File, Hash, Hash, []byte, error) {
	b, err := c.fetchRaw(ctx, owner, key, e.MaxFileBytes())
	if err != nil {
		return nil, Hash{}, Hash{}, nil, err
	}
	f, payload, values, err := DecodeDigests(b, e)
	if err != nil {
		return nil, Hash{}, Hash{}, b, &errBadFile{fmt.Errorf("%s: %w", key, err)}
	}
	return f, payload, values, b, nil
}

// expect returns the expectations for a file of window w.
func (c *core) expect(kind string, w uint64, idx Indices) *Expect {
	return &Expect{Kind: kind, Params: c.p, Window: w, Layout: c.model.Layout(), Indices: idx}
}

// undoRecord is what advance needs to step back: the replica held base(window)
// with digest state, and idx's values of θ and of the outer momentum (none
// under OuterSGD) before the aggregate was applied.
type undoRecord struct {
	window  uint64
	state   Hash
	idx     Indices
	old     [][]float32
	oldMom  [][]float32 // nil under OuterSGD
	payload Hash        // the applied aggregate's payload hash
}

// advance moves the replica from base(v) to base(v+1), applying agg(v−1)
// (none for v = FirstWindow: base(first+1) = θ₀), and checks the state chain:
// the aggregate must name d(v).
func (c *core) advance(agg *File, idx Indices) error {
	v := c.window
	if _, ok := c.win.LastApplied(v + 1); !ok {
		c.window = v + 1
		c.undo = nil
		c.advanced()
		return nil
	}
	if agg == nil || agg.Window != v-1 {
		return fmt.Errorf("%w: advancing base(%d) needs the aggregate of window %d", ErrWrongWindow, v, v-1)
	}
	if agg.Base != c.state {
		return fmt.Errorf("%w: aggregate of window %d applies to %s, the replica is at %s", ErrWrongBase, agg.Window, agg.Base, c.state)
	}
	u := &undoRecord{window: v, state: c.state, idx: idx, payload: agg.PayloadHash(c.model.Layout()),
		old: make([][]float32, len(idx))}
	mom := c.outer.Momentum()
	if mom != nil {
		u.oldMom = make([][]float32, len(idx))
	}
	for t, ix := range idx {
		u.old[t] = make([]float32, len(ix))
		if err := c.model.Gather(t, ix, u.old[t]); err != nil {
			return err
		}
		if mom != nil {
			u.oldMom[t] = make([]float32, len(ix))
			if err := mom.Gather(t, ix, u.oldMom[t]); err != nil {
				return err
			}
		}
	}
	next, err := StepState(c.model, c.outer, c.state, idx, agg)
	if err != nil {
		return err
	}
	c.state = next
	c.window = v + 1
	c.undo = u
	c.advanced()
	return nil
}

// rewind undoes the last advance: the replica is at base(window−1) again.
func (c *core) rewind() error {
	u := c.undo
	if u == nil || u.window+1 != c.window {
		return errors.New("bistro: nothing to rewind")
	}
	for t, ix := range u.idx {
		buf := make([]float32, c.model.Layout()[t].Len())
		if err := c.model.Read(t, buf); err != nil {
			return err
		}
		for i, j := range ix {
			buf[j] = u.old[t][i]
		}
		if err := c.model.Write(t, buf); err != nil {
			return err
		}
		if u.oldMom != nil {
			mv := c.outer.Momentum().Tensor(t)
			for i, j := range ix {
				mv[j] = u.oldMom[t][i]
			}
		}
	}
	c.window, c.state, c.undo = u.window, u.state, nil
	c.log.Warn("rewound the replica", "window", c.window, "state", c.state.String())
	return nil
}

func (c *core) advanced() {
	if c.cfg.OnAdvance != nil {
		c.cfg.OnAdvance(c.window, c.state, c.model)
	}
}

// errPending says a window's aggregate is not decided yet: a rank whose
// deadline is not finalized has not published. The caller looks again at a
// later head; it is not a failure.
var errPending = errors.New("bistro: aggregate not published yet")

// found is an aggregate located by the failover rule.
type found struct {
	file *File
	raw  []byte
	idx  Indices
	seed Hash
	by   peer // the publisher
	rank int
}

// publishFunc is called when the failover search reaches the caller's own
// rank r of window a while that rank may still publish (its deadline not yet
// finalized). It returns the aggregate it published, nil to read the rank's
// bucket like any other's, or an error to retry later.
type publishFunc func(ctx context.Context, a uint64, rank int, seed Hash, idx Indices) (*found, error)

// findAggregate locates the aggregate of window a by the failover rule of
// SPEC.md §9, at finalized block fin. Publishing goes by turns: turn t
// belongs to rank t mod R (R validators ranked) and ends when block
// RankDeadline(a, t) is finalized; a rank publishes only in its turn, after
// every earlier turn ended with no aggregate. So at most one validator
// publishes a window's aggregate, and a reader takes the one it finds. A rank
// counts as absent only on a not-found answer (or refused bytes) once its
// turn ended; a transport error is returned as is (retry later), errPending
// when the current turn's rank has not published yet. An aggregate that is
// valid but names another base than the replica's is returned with an error
// wrapping ErrWrongBase.
func (c *core) findAggregate(ctx context.Context, a uint64, fin Block, publish publishFunc) (*found, error) {
	seed, idx, err := c.seed(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("seed of window %d: %w", a, err)
	}
	ranks, err := c.ranks(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("ranks of window %d: %w", a, err)
	}
	if len(ranks) == 0 {
		return nil, fmt.Errorf("%w: window %d: no validator may publish", errPending, a)
	}
	absent := make([]bool, len(ranks)) // read as absent in this search
	for t := 0; ; t++ {
		r := t % len(ranks)
		p := ranks[r]
		dl, err := c.p.RankDeadline(a, uint64(t))
		if err != nil {
			return nil, err
		}
		if p.Hotkey == c.me && publish != nil && fin < dl {
			if f, err := publish(ctx, a, t, seed, idx); f != nil || err != nil {
				return f, err
			}
		}
		if !absent[r] {
			e := c.expect(KindAggregate, a, idx)
			e.Seed, e.Hotkey = &seed, &p.Hotkey
			f, raw, err := c.fetch(ctx, p, AggregateKey(c.p.NetUID, a), e)
			switch {
			case err == nil:
				fd := &found{file: f, raw: raw, idx: idx, seed: seed, by: p, rank: r}
				if f.Base != c.state {
					return fd, fmt.Errorf("%w: the aggregate of window %d by rank %d names base %s, the replica holds %s",
						ErrWrongBase, a, r, f.Base, c.state)
				}
				return fd, nil
			case errors.Is(err, ErrNotFound) || badFile(err):
				absent[r] = true
				if badFile(err) {
					c.log.Warn("aggregate refused, passing over its rank", "window", a, "rank", r, "by", p.Hotkey.String(), "err", err)
				}
			default:
				return nil, fmt.Errorf("aggregate of window %d by rank %d: %w", a, r, err)
			}
		}
		if fin < dl {
			return nil, fmt.Errorf("%w: window %d, turn %d (rank %d) until block %d", errPending, a, t, r, dl)
		}
	}
}

// heal re-syncs a replica that applied another aggregate of window v−2 than
// the one the network continued from: the network's next aggregate names
// base digest want. It steps back one window and applies, in rank order, the
// first other aggregate of v−2 that yields want. It reports whether it healed.
func (c *core) heal(ctx context.Context, want Hash) (bool, error) {
	u := c.undo
	if u == nil || u.window+1 != c.window {
		return false, nil
	}
	a := u.window - 1
	seed, idx, err := c.seed(ctx, a)
	if err != nil {
		return false, err
	}
	ranks, err := c.ranks(ctx, a)
	if err != nil {
		return false, err
	}
	applied := u.payload
	if err := c.rewind(); err != nil {
		return false, err
	}
	var lastErr error
	for _, p := range ranks {
		e := c.expect(KindAggregate, a, idx)
		e.Seed, e.Hotkey, e.Base = &seed, &p.Hotkey, &c.state
		f, _, err := c.fetch(ctx, p, AggregateKey(c.p.NetUID, a), e)
		if err != nil {
			if !errors.Is(err, ErrNotFound) && !badFile(err) {
				lastErr = err
			}
			continue
		}
		if f.PayloadHash(c.model.Layout()) == applied {
			continue
		}
		if err := c.advance(f, idx); err != nil {
			return false, err
		}
		if c.state == want {
			c.log.Warn("healed: applied the network's aggregate", "window", a, "by", p.Hotkey.String())
			return true, nil
		}
		if err := c.rewind(); err != nil {
			return false, err
		}
	}
	// None of them: put back what was applied. The caller falls back to a
	// checkpoint, or retries after a transport error.
	e := c.expect(KindAggregate, a, idx)
	e.Seed, e.Base = &seed, &c.state
	for _, p := range ranks {
		e.Hotkey = &p.Hotkey
		f, _, err := c.fetch(ctx, p, AggregateKey(c.p.NetUID, a), e)
		if err == nil && f.PayloadHash(c.model.Layout()) == applied {
			return false, errors.Join(lastErr, c.advance(f, idx))
		}
	}
	return false, errors.Join(lastErr, fmt.Errorf("%w: the aggregate of window %d this replica applied is gone", ErrWrongBase, a))
}

// loadCheckpoint replaces the replica with the newest checkpoint any rank
// of window limit published at or before limit and newer than the replica,
// checking its θ hash. It returns false when there is none.
func (c *core) loadCheckpoint(ctx context.Context, limit uint64) (bool, error) {
	return c.loadCheckpointFrom(ctx, limit, c.window+1)
}

// resync replaces a replica that diverged from the network deeper than heal
// reaches with the newest checkpoint at or before limit, whatever its age:
// the aggregates since are replayed from it.
func (c *core) resync(ctx context.Context, limit uint64) (bool, error) {
	from := c.p.FirstWindow
	if c.window > c.p.Retention {
		from = max(from, c.window-c.p.Retention)
	}
	ok, err := c.loadCheckpointFrom(ctx, limit, from)
	if ok {
		c.log.Warn("re-synced from a checkpoint after a divergence", "window", c.window)
	}
	return ok, err
}

func (c *core) loadCheckpointFrom(ctx context.Context, limit, from uint64) (bool, error) {
	ranks, err := c.ranks(ctx, limit)
	if err != nil {
		return false, err
	}
	type cand struct {
		w uint64
		p peer
	}
	var cands []cand
	var lastErr error
	for _, p := range ranks {
		st, err := c.cfg.Buckets.Open(ctx, p.Hotkey, p.commit)
		if err != nil {
			lastErr = err
			continue
		}
		windows, err := checkpointWindows(ctx, st, c.p.NetUID)
		if err != nil {
			lastErr = err
			continue
		}
		for _, w := range windows {
			if w <= limit && w >= from {
				cands = append(cands, cand{w, p})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].w > cands[j].w })
	for _, cd := range cands {
		e := c.expect(KindCheckpoint, cd.w, nil)
		e.Hotkey = &cd.p.Hotkey
		f, _, err := c.fetch(ctx, cd.p, CheckpointKey(c.p.NetUID, cd.w), e)
		if err != nil {
			c.log.Warn("checkpoint refused", "window", cd.w, "err", err)
			lastErr = err
			continue
		}
		// Check θ before touching the replica: a bad checkpoint changes nothing.
		if theta := thetaHashOf(c.model.Layout(), f.Tensors); theta != f.Theta {
			c.log.Warn("checkpoint refused", "window", cd.w, "err",
				fmt.Errorf("%w: θ hashes to %s, the file says %s", ErrWrongBase, theta, f.Theta))
			continue
		}
		if f.Momentum != nil {
			if mh := MomentumHash(c.model.Layout(), f.Momentum); mh != f.MomentumHash {
				c.log.Warn("checkpoint refused", "window", cd.w, "err",
					fmt.Errorf("%w: the momentum hashes to %s, the file says %s", ErrWrongBase, mh, f.MomentumHash))
				continue
			}
		}
		for t, v := range f.Tensors {
			if err := c.model.Write(t, v); err != nil {
				return false, err
			}
		}
		// The genesis checkpoint carries no momentum: zero (SPEC.md §8.4).
		if err := c.outer.SetMomentum(f.Momentum); err != nil {
			return false, err
		}
		c.window, c.state, c.undo = cd.w, f.Base, nil
		c.mu.Lock()
		c.checkpoints++
		c.mu.Unlock()
		c.log.Info("loaded checkpoint", "window", cd.w, "state", f.Base.String())
		c.advanced()
		return true, nil
	}
	return false, lastErr
}

// checkpointWindows lists the windows of the checkpoints in st, ascending.
func checkpointWindows(ctx context.Context, st Storage, netuid uint16) ([]uint64, error) {
	prefix := CheckpointPrefix(netuid)
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var windows []uint64
	for _, o := range objs {
		n, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, prefix), ".safetensors")
		if w, err := strconv.ParseUint(n, 10, 64); ok && err == nil {
			windows = append(windows, w)
		}
	}
	slices.Sort(windows)
	return windows, nil
}

// State reports which base the replica holds: base(window) with digest d.
type State struct {
	Window uint64
	Digest Hash
}
