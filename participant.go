package bistro

import (
	"context"
	"crypto/sha256"
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
// and dials through PublicDialControl; a local network maps buckets to
// directories. Implementations must be safe for concurrent use.
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
	// FetchConcurrency bounds parallel fetches (default 8).
	FetchConcurrency int
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
	window uint64 // model = base(window)
	state  Hash   // d(window)

	mu    sync.Mutex
	seeds map[uint64]seeded // recent windows' seeds and indices
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
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	me := cfg.Signer.Hotkey()
	return &core{cfg: cfg, p: p, digest: p.Digest(), win: win, pages: pa, sel: sel,
		log: log.With("hotkey", me.String()), me: me,
		model: cfg.Genesis, window: p.FirstWindow, state: p.GenesisDigest, seeds: map[uint64]seeded{}}, nil
}

// announce commits the participant's bucket.
func (c *core) announce(ctx context.Context) error {
	cm := c.cfg.Announce
	cm.Params = c.digest
	fields, err := cm.Fields()
	if err != nil {
		return err
	}
	return c.cfg.Chain.Commit(ctx, c.cfg.Signer, c.p.NetUID, fields)
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
		return nil, err
	}
	var out []peer
	for _, n := range ns {
		fields, _, err := c.cfg.Chain.Commitment(ctx, c.p.NetUID, n.Hotkey)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
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

// Lead returns the lead among peers: the highest stake among those with a
// validator permit, ties to the lowest uid (SPEC.md §9).
func lead(peers []peer) (peer, bool) {
	var best peer
	found := false
	for _, p := range peers {
		if !p.ValidatorPermit {
			continue
		}
		if !found || p.Stake > best.Stake {
			best, found = p, true
		}
	}
	return best, found
}

// leadOf returns the lead of window w: peers at the window's first block.
func (c *core) leadOf(ctx context.Context, w uint64) (peer, error) {
	start, err := c.win.Start(w)
	if err != nil {
		return peer{}, err
	}
	ps, err := c.peers(ctx, start)
	if err != nil {
		return peer{}, err
	}
	l, ok := lead(ps)
	if !ok {
		return peer{}, fmt.Errorf("%w: no lead for window %d", ErrNotFound, w)
	}
	return l, nil
}

// fetch reads a protocol file from owner's bucket and decodes it with e. It
// returns the bytes' SHA-256 with the file.
func (c *core) fetch(ctx context.Context, owner peer, key string, e *Expect) (*File, []byte, Hash, error) {
	st, err := c.cfg.Buckets.Open(ctx, owner.Hotkey, owner.commit)
	if err != nil {
		return nil, nil, Hash{}, err
	}
	b, err := st.Get(ctx, key, e.MaxFileBytes())
	if err != nil {
		return nil, nil, Hash{}, err
	}
	f, err := Decode(b, e)
	if err != nil {
		return nil, b, sha256.Sum256(b), err
	}
	return f, b, sha256.Sum256(b), nil
}

// expect returns the expectations for a file of window w.
func (c *core) expect(kind string, w uint64, idx Indices) *Expect {
	return &Expect{Kind: kind, Params: c.p, Window: w, Layout: c.model.Layout(), Indices: idx}
}

// advance moves the replica from base(v) to base(v+1), applying agg(v−1)
// (none for v = FirstWindow: base(first+1) = θ₀), and checks the state chain:
// the aggregate must name d(v).
func (c *core) advance(agg *File, idx Indices) error {
	v := c.window
	if _, ok := c.win.LastApplied(v + 1); !ok {
		c.window = v + 1
		c.advanced()
		return nil
	}
	if agg == nil || agg.Window != v-1 {
		return fmt.Errorf("%w: advancing base(%d) needs the aggregate of window %d", ErrWrongWindow, v, v-1)
	}
	if agg.Base != c.state {
		return fmt.Errorf("%w: aggregate of window %d applies to %s, the replica is at %s", ErrWrongBase, agg.Window, agg.Base, c.state)
	}
	if err := ApplyAggregate(c.model, idx, agg); err != nil {
		return err
	}
	touched, err := TouchedHash(c.model, idx)
	if err != nil {
		return err
	}
	c.state = NextState(c.state, agg.PayloadHash(c.model.Layout()), touched)
	c.window = v + 1
	c.advanced()
	return nil
}

func (c *core) advanced() {
	if c.cfg.OnAdvance != nil {
		c.cfg.OnAdvance(c.window, c.state, c.model)
	}
}

// fetchAggregate reads and checks the aggregate of window a (the replica must
// be at base(a+1)).
func (c *core) fetchAggregate(ctx context.Context, a uint64) (*File, Indices, peer, error) {
	seed, idx, err := c.seed(ctx, a)
	if err != nil {
		return nil, nil, peer{}, err
	}
	l, err := c.leadOf(ctx, a)
	if err != nil {
		return nil, nil, peer{}, err
	}
	e := c.expect(KindAggregate, a, idx)
	e.Seed, e.Base, e.Hotkey = &seed, &c.state, &l.Hotkey
	f, _, _, err := c.fetch(ctx, l, AggregateKey(c.p.NetUID, a), e)
	return f, idx, l, err
}

// loadCheckpoint replaces the replica with the newest checkpoint of the
// current lead at or before window limit, checking its θ hash. It returns
// false when there is none.
func (c *core) loadCheckpoint(ctx context.Context, limit uint64) (bool, error) {
	l, err := c.leadOf(ctx, limit)
	if err != nil {
		return false, err
	}
	st, err := c.cfg.Buckets.Open(ctx, l.Hotkey, l.commit)
	if err != nil {
		return false, err
	}
	windows, err := checkpointWindows(ctx, st, c.p.NetUID)
	if err != nil {
		return false, err
	}
	for len(windows) > 0 && windows[len(windows)-1] > limit {
		windows = windows[:len(windows)-1]
	}
	for i := len(windows) - 1; i >= 0; i-- {
		w := windows[i]
		e := c.expect(KindCheckpoint, w, nil)
		e.Hotkey = &l.Hotkey
		f, _, _, err := c.fetch(ctx, l, CheckpointKey(c.p.NetUID, w), e)
		if err != nil {
			c.log.Warn("checkpoint refused", "window", w, "err", err)
			continue
		}
		// Check θ before touching the replica: a bad checkpoint changes nothing.
		if theta := thetaHashOf(c.model.Layout(), f.Tensors); theta != f.Theta {
			c.log.Warn("checkpoint refused", "window", w, "err",
				fmt.Errorf("%w: θ hashes to %s, the file says %s", ErrWrongBase, theta, f.Theta))
			continue
		}
		for t, v := range f.Tensors {
			if err := c.model.Write(t, v); err != nil {
				return false, err
			}
		}
		c.window, c.state = w, f.Base
		c.log.Info("loaded checkpoint", "window", w, "state", f.Base.String())
		c.advanced()
		return true, nil
	}
	return false, nil
}

// checkpointWindows lists the windows of the checkpoints in st, ascending.
func checkpointWindows(ctx context.Context, st Storage, netuid uint16) ([]uint64, error) {
	prefix := fmt.Sprintf("bistro/v1/%d/checkpoints/", netuid)
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
