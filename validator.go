package bistro

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrAggregateMismatch is returned (and logged loudly) when this validator
// holds bytes proving that the lead's aggregate differs from the merge of
// the slices it names: the validator refuses to follow it. A transport error
// never leads to it.
var ErrAggregateMismatch = errors.New("bistro: the lead's aggregate does not match the slices it names")

// SliceFetchAttempts is how many heads a validator tries to read a miner's
// slice through transport errors before recording the miner as unreachable.
const SliceFetchAttempts = 3

// ValidatorOptions are a validator's local choices; none of them can split
// the network. Zero values take the defaults.
type ValidatorOptions struct {
	// Scorer compares slices with recomputations (DefaultPassFail).
	Scorer Scorer
	// Sampler picks whom to recompute (NewSampler: crypto/rand).
	Sampler Sampler
	// Ledger keeps the scores. Nil: VerifiedWork (pay only for verified
	// work, SPEC.md §11) with Alpha, loaded from StateDir when set; the v1
	// rule is NewMovingAverage. A Ledger that implements LedgerSaver is
	// saved there; one that implements WindowLedger is told of every window.
	Ledger Ledger
	// Alpha is the default ledger's per-window smoothing (0.1).
	Alpha float64
	// SampleSize is how many miners are recomputed per window (4).
	SampleSize int
	// StateDir, when set, holds the persisted ledger (ledger.json).
	StateDir string
	// SpoolDir, when set, holds the slices the validator fetched, a file
	// each, instead of memory: it holds up to four windows of every miner's
	// slice (at 256 miners × 52 MB slices, 13 GB a window). Its window
	// directories are cleared at start and once the windows are done; a
	// file that cannot be written is held in memory instead.
	SpoolDir string
	// Aggregator overrides the Params' aggregator when this validator leads
	// (research on a local network only: the others will refuse its
	// aggregates unless they use the same).
	Aggregator Aggregator
	// OnAggregate, when set, is told what the validator published as lead
	// (or by failover): the manifest of window w and the uids dropped as
	// duplicates. It is called once per window, after the aggregate is
	// confirmed readable.
	OnAggregate func(w uint64, manifest []ManifestEntry, dropped []UID)
}

// ValidatorStats counts what a validator did.
type ValidatorStats struct {
	Windows      int // windows processed (scored and applied)
	Skipped      int // windows passed over: the replica was already past their base
	Fetched      int // slices that passed the cheap checks
	Rejected     int // slices missing or failing the cheap checks
	Recomputed   int // recomputations (its compute)
	Led          int // aggregates published (as lead or by failover)
	FailedOver   int // aggregates published at a rank above 0
	Abandoned    int // publications given up: the rank's deadline passed
	Verified     int // aggregates checked bit for bit
	Mismatches   int // aggregates refused on proof
	Equivocators int // equivocations proven
	Healed       int // replica re-synced to the network's aggregate
	Retries      int // duties that failed at one head and were retried
	WeightsSet   int
	State        State
	// FetchConcurrency is the number of parallel slice fetches it uses now
	// (sized from measured throughput, Config.FetchConcurrency): a
	// measurement, left out of JSON as the times below.
	FetchConcurrency int `json:"-"`
	// FetchTime is the time spent fetching and checking slices, RecomputeTime
	// the time spent recomputing and scoring the sample (Config.Clock). They
	// are measurements, not results: JSON leaves them out.
	FetchTime     time.Duration `json:"-"`
	RecomputeTime time.Duration `json:"-"`
}

// Validator runs the validator's duties (doc.go). Each window is explicit
// work, done step by step at the heads that allow it and retried at later
// heads after any failure, until it is done or moot:
//
//  1. once deadline(w) is finalized and the replica holds base(w): fetch and
//     check every miner's slice (transport errors retried for
//     SliceFetchAttempts heads);
//  2. recompute a private sample and record every score — once per window;
//  3. locate the aggregate of w−1 by the failover rule, check it bit for bit
//     against the slices of w−1, and apply it: base(w+1);
//  4. when this validator is the rank whose turn it is, publish the
//     aggregate of w (copies, aggregate, checkpoint; the same signed bytes
//     on every retry) and confirm it is readable, or abandon it once its
//     rank's deadline is finalized;
//  5. set weights and save the ledger, retried until done or superseded.
//
// Step is the whole loop body; Run drives it from the chain's block stream.
type Validator struct {
	*core
	opt ValidatorOptions
	agg Aggregator

	fin     Block  // finalized block of the head being stepped
	next    uint64 // next window to process
	started bool
	work    map[uint64]*windowWork  // the last windows' slices
	located map[uint64]*found       // aggregates located, not yet applied
	pubs    map[uint64]*publication // this validator's publications
	refused map[uint64]bool         // aggregates refused on proof
	liars   map[Hotkey]bool         // proven equivocators
	proofs  map[string][]byte       // evidence not yet published
	// evidenceNext is the first window whose evidence is still to be read,
	// retired the oldest window whose objects retention has not cleared.
	evidenceNext, retired uint64
	weights               bool // weights to set
	save                  bool // ledger to save
	fetches               *fetchTuner

	statMu sync.Mutex
	stats  ValidatorStats
}

// windowWork is what a validator holds of one window.
type windowWork struct {
	w      uint64
	seed   Hash
	idx    Indices
	state  Hash // d(w)
	peers  []peer
	slots  []slot
	scored bool
	stale  bool // its slices were judged against a base the replica left
	// sample is drawn once (a retried scoring recomputes the same miners),
	// with every candidate's inclusion probability.
	sample    []UID
	inclusion map[UID]float64
	// dupFail are the members of groups of identical slices whose
	// recomputation on their own pages failed: the copiers.
	dupFail map[UID]bool
}

type slot struct {
	peer peer
	// file is the decoded slice without its values (nil until it passed
	// the cheap checks); held has the bytes, read one tensor at a time.
	file *File
	held *heldSlice
	sum  Hash // the payload hash once decoded
	// values (ValuesDigest of the tensors) and norm are kept from the
	// decode, so that copy detection and the merges never hash or sum the
	// slice again.
	values Hash
	norm   float64
	err    error
	tries  int  // transport failures so far
	done   bool // file or err is final
}

// refetch forgets what s held (its spool lost it): the slice is fetched
// and checked again.
func (s *slot) refetch() {
	s.held, s.file, s.err, s.done, s.tries = nil, nil, nil, false, 0
}

// streamed offers s, decoded, to a merge: its values are read from the
// held bytes one tensor at a time.
func (s *slot) streamed() Streamed {
	h := s.held
	return Streamed{UID: s.peer.UID, Hotkey: s.peer.Hotkey, Payload: s.sum, Delta: s.values, Norm: s.norm,
		Read: func(t int, dst []float32) error { return h.read(t, dst) }}
}

// sweepSpool deletes the spooled slices of windows whose work is done and
// whose publication has no copy left to upload.
func (v *Validator) sweepSpool() {
	err := sweepSpool(v.opt.SpoolDir, func(w uint64) bool {
		if v.work[w] != nil {
			return true
		}
		pub := v.pubs[w]
		return pub != nil && len(pub.copies) > 0 && !pub.put
	})
	if err != nil {
		v.failed("spool sweep", err)
	} else {
		v.recovered("spool sweep")
	}
}

func (ws *windowWork) find(uid UID) *slot {
	for i := range ws.slots {
		if ws.slots[i].peer.UID == uid {
			return &ws.slots[i]
		}
	}
	return nil
}

// publication is this validator's aggregate of one window: built and signed
// once, uploaded until confirmed.
type publication struct {
	found    *found
	copies   map[string]*heldSlice // used-copy key → bytes still to upload
	manifest []ManifestEntry
	dropped  []UID
	ckptKey  string
	ckpt     []byte // checkpoint still to upload (nil: none or done)
	put      bool   // aggregate uploaded and confirmed
	// turn is the publishing turn being tried, deadline its end.
	turn      int
	deadline  Block
	abandoned bool
}

// NewValidator returns a validator.
func NewValidator(cfg Config, opt ValidatorOptions) (*Validator, error) {
	c, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	if opt.Scorer == nil {
		opt.Scorer = DefaultPassFail()
	}
	if opt.Sampler == nil {
		opt.Sampler = NewSampler()
	}
	lo := DefaultVerifiedWorkOptions()
	if opt.Alpha != 0 {
		lo.Alpha = opt.Alpha
	}
	if opt.SampleSize == 0 {
		opt.SampleSize = 4
	}
	if opt.SampleSize < 0 {
		return nil, fmt.Errorf("bistro: validator: SampleSize %d < 0", opt.SampleSize)
	}
	if opt.Ledger == nil {
		path := ""
		if opt.StateDir != "" {
			path = filepath.Join(opt.StateDir, "ledger.json")
		}
		l, err := LoadVerifiedWork(path, lo)
		if err != nil {
			return nil, err
		}
		opt.Ledger = l
	}
	agg := opt.Aggregator
	if agg == nil {
		if agg, err = NewAggregator(cfg.Params); err != nil {
			return nil, err
		}
	}
	if opt.SpoolDir != "" {
		// Slices spooled by an earlier run are not this run's.
		if err := os.MkdirAll(opt.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("bistro: validator: spool: %w", err)
		}
		if err := sweepSpool(opt.SpoolDir, func(uint64) bool { return false }); err != nil {
			return nil, fmt.Errorf("bistro: validator: spool: %w", err)
		}
	}
	v := &Validator{core: c, opt: opt, agg: agg, work: map[uint64]*windowWork{},
		located: map[uint64]*found{}, pubs: map[uint64]*publication{}, refused: map[uint64]bool{},
		liars: map[Hotkey]bool{}, proofs: map[string][]byte{},
		fetches: newFetchTuner(c.cfg.FetchConcurrency, c.cfg.MaxFetchConcurrency)}
	v.stats.FetchConcurrency = v.fetches.limit
	return v, nil
}

// Ledger returns the validator's ledger.
func (v *Validator) Ledger() Ledger { return v.opt.Ledger }

// Stats returns a snapshot of the validator's counters.
func (v *Validator) Stats() ValidatorStats {
	v.statMu.Lock()
	defer v.statMu.Unlock()
	return v.stats
}

func (v *Validator) count(f func(s *ValidatorStats)) {
	v.statMu.Lock()
	f(&v.stats)
	v.statMu.Unlock()
}

// Run announces the bucket, then steps on every head until ctx ends,
// subscribing again when the stream drops.
func (v *Validator) Run(ctx context.Context) error { return run(ctx, v.cfg.Chain, v.log, v.Step) }

// retry records that a duty failed at this head and will be tried again at
// the next.
func (v *Validator) retry(duty string, err error) {
	v.count(func(s *ValidatorStats) { s.Retries++ })
	v.failed(duty, err)
}

// Step does the work head h allows: every window whose deadline is
// finalized, in order, then this validator's publication duties, weights and
// the ledger. A failed duty is retried at the next head; Step returns an
// error only when ctx ends or the configuration is broken (a bucket
// commitment the chain cannot hold).
func (v *Validator) Step(ctx context.Context, h Head) error {
	v.fin = h.Finalized
	if !v.started {
		if err := v.announce(ctx); err != nil {
			if errors.Is(err, ErrBadCommitment) {
				return fmt.Errorf("bistro: announce the bucket: %w", err) // configuration: no retry helps
			}
			v.retry("announce", err)
			return ctx.Err()
		}
		v.recovered("announce")
		v.started = true
		// A validator starting late scores from the current window on.
		v.next = max(v.win.Of(h.Number), v.p.FirstWindow)
	}
	// A validator far behind (a long outage) scores from recent windows on:
	// older slices are past retention.
	if cw := v.win.Of(h.Number); v.next+v.p.Retention/2 < cw {
		v.log.Warn("far behind: skipping to recent windows", "from", v.next, "to", cw-1)
		v.count(func(s *ValidatorStats) { s.Skipped += int(cw - 1 - v.next) })
		v.next = cw - 1
	}
	for ctx.Err() == nil {
		dl, err := v.win.Deadline(v.next)
		if err != nil || v.fin < dl {
			break
		}
		done, err := v.process(ctx, v.next)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, errPending) {
				v.retry(fmt.Sprintf("window %d", v.next), err)
			}
			break
		}
		v.recovered(fmt.Sprintf("window %d", v.next))
		if !done {
			break
		}
		v.next++
	}
	v.publishDuties(ctx)
	v.flushProofs(ctx)
	v.setWeights(ctx)
	v.saveLedger()
	v.count(func(s *ValidatorStats) { s.State = State{v.window, v.state} })
	return ctx.Err()
}

// process advances window w's work as far as it can. It returns true once
// the window is done: scored, its base's successor reached, recorded.
func (v *Validator) process(ctx context.Context, w uint64) (bool, error) {
	if v.window > w {
		// The replica is past base(w) (a checkpoint): w cannot be scored.
		v.count(func(s *ValidatorStats) { s.Skipped++ })
		return true, nil
	}
	if err := v.catchUp(ctx, w); err != nil {
		return false, fmt.Errorf("replica not at base(%d): %w", w, err)
	}
	ww, err := v.windowWork(ctx, w)
	if err != nil {
		return false, err
	}
	if !ww.scored {
		t0 := v.cfg.Clock.Now()
		if !v.fetchSlices(ctx, ww) {
			return false, fmt.Errorf("%w: window %d: slices still unreadable", errPending, w)
		}
		t1 := v.cfg.Clock.Now()
		// The aggregate of w−1 names d(w): a replica that applied another
		// aggregate of w−2 than the network heals before it judges the
		// slices, which name d(w) too.
		if err := v.locateNext(ctx); err != nil {
			return false, err
		}
		if err := v.decodeSlices(ww); err != nil {
			return false, err
		}
		v.readEvidence(ctx, ww)
		if err := v.score(ctx, ww); err != nil {
			return false, err
		}
		t2 := v.cfg.Clock.Now()
		ww.scored = true
		v.weights, v.save = true, true
		v.count(func(s *ValidatorStats) { s.FetchTime += t1.Sub(t0); s.RecomputeTime += t2.Sub(t1) })
	}
	// base(w) → base(w+1) with the aggregate of w−1, checked first.
	if err := v.applyNext(ctx); err != nil {
		return false, err
	}
	delete(v.work, w-min(w, 3))
	v.sweepSpool()
	v.count(func(s *ValidatorStats) { s.Windows++ })
	return true, nil
}

// windowWork returns window w's work, creating it (seed, peers, slots) on
// first use. The replica holds base(w).
func (v *Validator) windowWork(ctx context.Context, w uint64) (*windowWork, error) {
	if ww := v.work[w]; ww != nil {
		return ww, nil
	}
	seed, idx, err := v.seed(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("seed of window %d: %w", w, err)
	}
	dl, _ := v.win.Deadline(w)
	peers, err := v.peers(ctx, dl)
	if err != nil {
		return nil, err
	}
	ww := &windowWork{w: w, seed: seed, idx: idx, peers: peers}
	for _, p := range peers {
		if p.Hotkey != v.me {
			ww.slots = append(ww.slots, slot{peer: p})
		}
	}
	v.work[w] = ww
	return ww, nil
}

// catchUp brings the replica to base(w) by applying the aggregates (or
// loading a newer checkpoint first when far behind).
func (v *Validator) catchUp(ctx context.Context, w uint64) error {
	if v.window+v.p.Retention/2 < w {
		if _, err := v.loadCheckpoint(ctx, w); err != nil {
			v.log.Warn("checkpoint", "window", w, "err", err)
		}
	}
	for v.window < w && ctx.Err() == nil {
		if err := v.applyNext(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// locateNext locates the aggregate that moves the replica from base(v) to
// base(v+1), the aggregate of v−1, by the failover rule (publishing it when
// it is this validator's turn) and keeps it. When it names another base than
// the replica's, the replica applied another aggregate of v−2 than the one
// the network continued from: it is healed first.
func (v *Validator) locateNext(ctx context.Context) error {
	if _, ok := v.win.LastApplied(v.window + 1); !ok {
		return nil
	}
	a := v.window - 1
	if v.refused[a] {
		return fmt.Errorf("%w: window %d (refused on proof)", ErrAggregateMismatch, a)
	}
	if v.located[a] != nil {
		return nil
	}
	fd, err := v.findAggregate(ctx, a, v.fin, v.publish)
	if errors.Is(err, ErrWrongBase) && fd != nil {
		healed, herr := v.heal(ctx, fd.file.Base)
		if !healed {
			if herr == nil || errors.Is(herr, ErrWrongBase) {
				// Deeper than one window: a checkpoint, then the aggregates.
				if ok, cerr := v.resync(ctx, a); ok {
					clear(v.located)
					for _, ww := range v.work {
						ww.stale = true // judged against a base the network did not hold
					}
					return fmt.Errorf("%w: re-synced from a checkpoint", errPending)
				} else if cerr != nil {
					herr = errors.Join(herr, cerr)
				}
			}
			return errors.Join(err, herr)
		}
		v.count(func(s *ValidatorStats) { s.Healed++ })
		err = nil
	}
	if err != nil {
		return err
	}
	v.located[a] = fd
	return nil
}

// applyNext moves the replica from base(v) to base(v+1): it locates the
// aggregate of v−1, checks it against the slices of v−1 this validator
// fetched, and applies it.
func (v *Validator) applyNext(ctx context.Context) error {
	if _, ok := v.win.LastApplied(v.window + 1); !ok {
		return v.advance(nil, nil)
	}
	if err := v.locateNext(ctx); err != nil {
		return err
	}
	a := v.window - 1
	fd := v.located[a]
	if ww := v.work[a]; ww != nil && ww.scored && !ww.stale && fd.by.Hotkey != v.me {
		if err := v.verify(ctx, fd.file, ww, fd.by); err != nil {
			if errors.Is(err, ErrAggregateMismatch) {
				v.refused[a] = true
				v.count(func(s *ValidatorStats) { s.Mismatches++ })
				v.log.Error("REFUSING the lead's aggregate", "window", a, "lead", fd.by.Hotkey.String(), "err", err)
			}
			return err
		}
		v.count(func(s *ValidatorStats) { s.Verified++ })
	}
	if err := v.advance(fd.file, fd.idx); err != nil {
		delete(v.located, a)
		return err
	}
	delete(v.located, a)
	for w := range v.pubs {
		if w+2 < v.window {
			delete(v.pubs, w)
		}
	}
	return nil
}

// publishDuties locates (and, in this validator's turn, publishes) the
// aggregate of the last window it processed, as soon as the failover rule
// allows, without waiting for the next window's deadline.
func (v *Validator) publishDuties(ctx context.Context) {
	if v.window < 1 {
		return
	}
	a := v.window - 1
	ww := v.work[a]
	if ww == nil || !ww.scored || ww.stale || v.located[a] != nil || v.refused[a] {
		return
	}
	ranks, err := v.ranks(ctx, a)
	if err != nil {
		v.retry("ranks", err)
		return
	}
	mine := slices.IndexFunc(ranks, func(p peer) bool { return p.Hotkey == v.me })
	if mine < 0 {
		return
	}
	if mine > 0 {
		// Nothing to do before the lead's turn ended.
		if dl, err := v.p.RankDeadline(a, 0); err != nil || v.fin < dl {
			return
		}
	}
	if pub := v.pubs[a]; pub != nil && !pub.put && !pub.abandoned && v.fin >= pub.deadline {
		pub.abandoned = true
		v.count(func(s *ValidatorStats) { s.Abandoned++ })
		v.log.Warn("abandoned the aggregate: the turn's deadline passed", "window", a, "turn", pub.turn)
	}
	fd, err := v.findAggregate(ctx, a, v.fin, v.publish)
	switch {
	case err == nil:
		v.located[a] = fd
		v.recovered(fmt.Sprintf("publish %d", a))
	case errors.Is(err, errPending), errors.Is(err, ErrWrongBase):
	default:
		v.retry(fmt.Sprintf("publish %d", a), err)
	}
}

// fetchSlices fetches and checks every undecided slice, a few at a time. It
// reports whether every slice is decided: present and checked, refused, or
// unreachable after SliceFetchAttempts heads.
func (v *Validator) fetchSlices(ctx context.Context, ws *windowWork) bool {
	g, gctx := errgroup.WithContext(ctx)
	e := v.expect(KindSlice, ws.w, ws.idx)
	limit := min(v.fetches.limit, max(1, int(FetchMemory/max(e.MaxFileBytes(), 1))))
	g.SetLimit(limit)
	var (
		mu       sync.Mutex
		spoolErr error // the first file the spool could not write (held in memory instead)
		fetched  int
		moved    int64
		failed   int
	)
	t0 := v.cfg.Clock.Now()
	for i := range ws.slots {
		s := &ws.slots[i]
		if s.done {
			continue
		}
		g.Go(func() error {
			raw, err := v.fetchRaw(gctx, s.peer, SliceKey(v.p.NetUID, ws.w, s.peer.Hotkey), e.MaxFileBytes())
			switch {
			case err == nil:
				h, serr := holdSlice(v.opt.SpoolDir, ws.w, s.peer.UID, raw)
				mu.Lock()
				spoolErr = cmpErr(spoolErr, serr)
				fetched++
				moved += int64(len(raw))
				mu.Unlock()
				s.held, s.err, s.done = h, nil, true
			case errors.Is(err, ErrNotFound) || badFile(err):
				s.err, s.done = err, true
			default:
				mu.Lock()
				failed++
				mu.Unlock()
				s.tries++
				s.err = err
				s.done = s.tries >= SliceFetchAttempts
			}
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() == nil {
		v.fetches.observe(fetched, moved, v.cfg.Clock.Now().Sub(t0), failed)
		v.count(func(s *ValidatorStats) { s.FetchConcurrency = v.fetches.limit })
	}
	if spoolErr != nil {
		v.failed("spool", spoolErr)
	} else {
		v.recovered("spool")
	}
	all := true
	for i := range ws.slots {
		all = all && ws.slots[i].done
	}
	if !all && ctx.Err() == nil {
		v.count(func(s *ValidatorStats) { s.Retries++ })
	}
	return all && ctx.Err() == nil
}

// decodeSlices checks the slices fetched for window ws against the
// replica's base, base(ws.w): signature, digests, shape, finite values, norm.
// A slice its spool lost is fetched again (the error: at the next head);
// that costs the miner nothing.
func (v *Validator) decodeSlices(ws *windowWork) error {
	ws.state = v.state
	var lost error
	for i := range ws.slots {
		s := &ws.slots[i]
		if s.held == nil {
			continue
		}
		s.file = nil
		raw, err := s.held.bytes()
		if err != nil {
			s.refetch()
			lost = cmpErr(lost, err)
			continue
		}
		e := v.expect(KindSlice, ws.w, ws.idx)
		e.Seed, e.Base, e.Hotkey = &ws.seed, &ws.state, &s.peer.Hotkey
		f, sum, values, err := DecodeDigests(raw, e)
		if err != nil {
			s.err = err
			continue
		}
		if s.held.offs, err = tensorOffsets(raw, e); err != nil {
			s.err = err
			continue
		}
		s.sum, s.values, s.norm = sum, values, Norm(f.Tensors)
		f.Tensors = nil // read again from held when needed
		if s.err = checkNormOf(v.p, ws.w, s.norm); s.err == nil {
			s.file = f
		}
	}
	if lost != nil {
		return fmt.Errorf("window %d: %w", ws.w, lost)
	}
	return nil
}

// score judges window ws: every result is recorded in the Ledger exactly
// once, after every recomputation it needs succeeded (an error is returned,
// and the whole scoring retried at the next head on the same sample: the
// validator's own failure never costs a miner its credit).
//
// With a WindowLedger (the default, VerifiedWork) the sample is drawn among
// every miner present: a sampled miner whose slice is there but fails the
// cheap checks fails, one whose slice passes them is recomputed and scored;
// a missing slice, or one naming another base, earns nothing and costs
// nothing (its miner is behind or just joined, or this validator is behind,
// or the network stalled: credit vests only at a later pass, so there is
// nothing to gain by not uploading). Members of a group of identical slices are
// all recomputed on their own pages: a copier fails, its victim loses
// nothing (and stays mergeable). Then the window is closed for every miner.
// Other ledgers get the v1 flow: every cheap-check failure is recorded, and
// the sample is drawn among the slices that passed.
func (v *Validator) score(ctx context.Context, ws *windowWork) error {
	wl, perWindow := v.opt.Ledger.(WindowLedger)
	type result struct {
		uid   UID
		hk    Hotkey
		score Score
	}
	var results []result
	record := func(s *slot, sc Score) { results = append(results, result{s.peer.UID, s.peer.Hotkey, sc}) }
	cheapFail := func(s *slot) Score {
		reason := "unreadable"
		switch {
		case errors.Is(s.err, ErrNotFound):
			reason = "no slice by the deadline"
		case s.err != nil:
			reason = s.err.Error()
		}
		return Score{Value: 0, Verdict: Fail, Reason: reason}
	}
	recompute := func(s *slot) (Score, error) {
		ref, err := Recompute(ctx, v.p, v.model, v.cfg.Trainer, v.cfg.Dataset, v.pages, ws.w, s.peer.Hotkey, ws.idx)
		if err != nil {
			return Score{}, fmt.Errorf("recompute uid %d of window %d: %w", s.peer.UID, ws.w, err)
		}
		v.count(func(st *ValidatorStats) { st.Recomputed++ })
		values, err := s.held.tensors(ws.idx)
		if err != nil {
			s.refetch() // the spool lost it: fetched and checked again
			return Score{}, fmt.Errorf("uid %d of window %d: %w", s.peer.UID, ws.w, err)
		}
		return v.opt.Scorer.Score(values, ref), nil
	}

	var candidates []UID
	for i := range ws.slots {
		s := &ws.slots[i]
		switch {
		case s.file == nil && !perWindow:
			record(s, cheapFail(s))
		case s.file != nil && v.liars[s.peer.Hotkey]:
			record(s, Score{Value: 0, Verdict: Slash, Reason: "equivocated"})
		case s.file != nil || perWindow:
			candidates = append(candidates, s.peer.UID)
		}
	}
	if ws.sample == nil {
		ws.sample = v.opt.Sampler.Sample(ws.w, candidates, v.opt.Ledger.Evaluated, v.opt.SampleSize)
		ws.inclusion = inclusion(v.opt.Sampler, candidates, v.opt.Ledger.Evaluated, v.opt.SampleSize)
	}
	recomputed := map[UID]bool{}
	for _, uid := range ws.sample {
		s := ws.find(uid)
		switch {
		case s.file == nil && errors.Is(s.err, ErrWrongBase):
			continue
		case s.file == nil && errors.Is(s.err, ErrNotFound):
			continue
		case s.file == nil:
			record(s, cheapFail(s))
			continue
		}
		sc, err := recompute(s)
		if err != nil {
			return err
		}
		recomputed[uid] = true
		record(s, sc)
		v.log.Debug("scored", "window", ws.w, "uid", uid, "verdict", sc.Verdict.String(), "reason", sc.Reason)
	}
	ws.dupFail = map[UID]bool{}
	if perWindow {
		groups := map[Hash][]*slot{}
		for i := range ws.slots {
			if s := &ws.slots[i]; s.file != nil {
				groups[s.values] = append(groups[s.values], s)
			}
		}
		budget := 2 * max(v.opt.SampleSize, 1)
		for _, g := range groups {
			if len(g) < 2 || len(g) > budget {
				continue // more copies than the budget: the merge drops them all
			}
			budget -= len(g)
			for _, s := range g {
				sc := Score{Verdict: Pass}
				if !recomputed[s.peer.UID] {
					var err error
					if sc, err = recompute(s); err != nil {
						return err
					}
					if sc.Verdict != Pass {
						record(s, sc) // a copier; the victim's credit follows the sample alone
					}
				} else {
					for _, r := range results {
						if r.uid == s.peer.UID {
							sc = r.score
						}
					}
				}
				if sc.Verdict != Pass {
					ws.dupFail[s.peer.UID] = true
				}
			}
		}
	}

	for _, r := range results {
		v.opt.Ledger.Record(ws.w, r.uid, r.hk, r.score)
	}
	for _, s := range ws.slots {
		if s.file == nil {
			v.count(func(st *ValidatorStats) { st.Rejected++ })
		} else {
			v.count(func(st *ValidatorStats) { st.Fetched++ })
		}
	}
	if perWindow {
		miners := make([]WindowMiner, 0, len(ws.slots))
		for _, s := range ws.slots {
			miners = append(miners, WindowMiner{UID: s.peer.UID, Hotkey: s.peer.Hotkey, Inclusion: ws.inclusion[s.peer.UID],
				Sampled:  slices.Contains(ws.sample, s.peer.UID),
				Interval: max(1, float64(len(candidates))/float64(max(v.opt.SampleSize, 1)))})
		}
		wl.CloseWindow(ws.w, miners)
	}
	return nil
}

// InclusionSampler is the optional capability of a Sampler that says how
// likely each candidate is to be drawn by Sample with the same arguments.
// Ledgers that pay a pass by 1/p (VerifiedWork) need it; without it the
// validator assumes n of the candidates uniformly.
type InclusionSampler interface {
	Inclusion(candidates []UID, evaluated func(UID) bool, n int) map[UID]float64
}

// inclusion returns each candidate's probability of being sampled.
func inclusion(s Sampler, candidates []UID, evaluated func(UID) bool, n int) map[UID]float64 {
	if is, ok := s.(InclusionSampler); ok {
		return is.Inclusion(candidates, evaluated, n)
	}
	out := make(map[UID]float64, len(candidates))
	for _, u := range candidates {
		out[u] = min(1, float64(n)/float64(max(len(candidates), 1)))
	}
	return out
}

// verify recomputes the lead's merge from the slices its manifest names.
// Where this validator's copy of a slice differs from the lead's, it takes
// the lead's copy (kept under UsedKey) after checking the miner's signature;
// two different signed slices prove the miner equivocated: it is slashed and
// the evidence published. Only bytes in hand that contradict the aggregate
// return ErrAggregateMismatch; a copy that cannot be read is retried.
func (v *Validator) verify(ctx context.Context, agg *File, prev *windowWork, l peer) error {
	cs := make([]Streamed, 0, len(agg.Manifest))
	for _, e := range agg.Manifest {
		s := prev.find(e.UID)
		if s != nil && s.file != nil && s.sum == e.Payload && s.peer.Hotkey == e.Hotkey && s.held.readable() {
			cs = append(cs, s.streamed())
			defer s.held.release()
			continue
		}
		x := v.expect(KindSlice, prev.w, prev.idx)
		x.Seed, x.Base, x.Hotkey = &prev.seed, &prev.state, &e.Hotkey
		f, sum, values, _, err := v.fetchDigests(ctx, l, UsedKey(v.p.NetUID, prev.w, e.Hotkey), x)
		switch {
		case badFile(err):
			return fmt.Errorf("%w: uid %d: the lead's copy of the slice: %w", ErrAggregateMismatch, e.UID, err)
		case err != nil:
			return fmt.Errorf("the lead's copy of uid %d's slice of window %d: %w", e.UID, prev.w, err)
		}
		if sum != e.Payload {
			return fmt.Errorf("%w: uid %d: the lead's copy is not the slice its manifest names", ErrAggregateMismatch, e.UID)
		}
		if s != nil && s.held != nil && s.peer.Hotkey == e.Hotkey {
			// (A copy the spool lost proves nothing: no comparison.)
			if b, err := s.held.bytes(); err == nil {
				if _, mine, _, err := DecodeDigests(b, x); err == nil && mine != sum {
					v.equivocated(prev.w, s.peer.UID, s.peer.Hotkey, b)
				}
			}
		}
		cs = append(cs, Streamed{UID: e.UID, Hotkey: e.Hotkey, Payload: sum, Delta: values, Norm: Norm(f.Tensors),
			Values: f.Tensors})
	}
	merged, manifest, _, err := mergeHeld(v.agg, prev.idx, cs)
	if errors.Is(err, errSpool) {
		return fmt.Errorf("check the aggregate of window %d: %w", prev.w, err) // retried
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAggregateMismatch, err)
	}
	if len(manifest) != len(agg.Manifest) {
		return fmt.Errorf("%w: %d slices merge, the manifest names %d", ErrAggregateMismatch, len(manifest), len(agg.Manifest))
	}
	for t := range merged {
		if !bytes.Equal(f32Bytes(merged[t]), f32Bytes(agg.Tensors[t])) {
			return fmt.Errorf("%w: tensor %q differs", ErrAggregateMismatch, v.model.Layout()[t].Name)
		}
	}
	return nil
}

// equivocated records a proven equivocation of the miner in window w: raw
// is this validator's copy of its slice; another validly signed one for the
// same window has another payload. The miner is slashed once; the evidence
// of every window is published (at this and later heads until the upload
// succeeds), so a lead that missed one window's sees the next.
func (v *Validator) equivocated(w uint64, uid UID, hk Hotkey, raw []byte) {
	v.proofs[EvidenceKey(v.p.NetUID, w, hk)] = raw
	if v.liars[hk] {
		return
	}
	v.count(func(st *ValidatorStats) { st.Equivocators++ })
	v.liars[hk] = true
	v.opt.Ledger.Record(w, uid, hk, Score{Value: 0, Verdict: Slash, Reason: "two different signed slices"})
	v.log.Warn("equivocation", "window", w, "uid", uid, "miner", hk.String())
}

func (v *Validator) flushProofs(ctx context.Context) {
	for key, b := range v.proofs {
		if err := v.cfg.Bucket.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			v.retry("publish evidence", err)
			continue
		}
		delete(v.proofs, key)
	}
}

// publish is the publishFunc of this validator: in its turn for window a,
// it builds and signs the aggregate once (it needs the slices of a and
// base(a+1)) — a later turn re-sends the same bytes — then uploads the
// copies, the aggregate and, every K windows, a checkpoint, confirming the
// aggregate is readable. It returns nil when it cannot publish this window
// (it lacks the slices or the base).
func (v *Validator) publish(ctx context.Context, a uint64, turn int, seed Hash, idx Indices) (*found, error) {
	pub := v.pubs[a]
	if pub == nil {
		ww := v.work[a]
		if ww == nil || !ww.scored || ww.stale || v.window != a+1 {
			return nil, nil
		}
		var err error
		if pub, err = v.build(ctx, ww, turn); err != nil {
			return nil, err
		}
		v.pubs[a] = pub
	}
	if pub.put {
		return pub.found, nil
	}
	if pub.turn != turn {
		pub.turn, pub.abandoned = turn, false
	}
	pub.deadline, _ = v.p.RankDeadline(a, uint64(turn))
	rank := turn
	for key, h := range pub.copies {
		b, err := h.bytes()
		if err != nil {
			return nil, fmt.Errorf("publish the copy %s: %w", key, err)
		}
		if err := v.putConfirmed(ctx, key, b); err != nil {
			return nil, fmt.Errorf("publish the copy %s: %w", key, err)
		}
		delete(pub.copies, key)
	}
	key := AggregateKey(v.p.NetUID, a)
	raw := pub.found.raw
	if err := v.cfg.Bucket.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
		return nil, fmt.Errorf("publish the aggregate of window %d: %w", a, err)
	}
	got, err := v.cfg.Bucket.Get(ctx, key, int64(len(raw)))
	if err != nil {
		return nil, fmt.Errorf("confirm the aggregate of window %d: %w", a, err)
	}
	if sha256.Sum256(got) != sha256.Sum256(raw) {
		return nil, fmt.Errorf("confirm the aggregate of window %d: the bucket returns other bytes", a)
	}
	pub.put = true
	v.count(func(s *ValidatorStats) {
		s.Led++
		if rank > 0 {
			s.FailedOver++
		}
	})
	v.log.Info("published aggregate", "window", a, "rank", rank, "slices", len(pub.manifest))
	if v.opt.OnAggregate != nil {
		v.opt.OnAggregate(a, pub.manifest, pub.dropped)
	}
	if pub.ckpt != nil {
		if err := v.putConfirmed(ctx, pub.ckptKey, pub.ckpt); err != nil {
			// The aggregate is out; the checkpoint is retried with the
			// next window's publication (see build).
			v.retry("checkpoint", err)
		} else {
			v.log.Info("published checkpoint", "key", pub.ckptKey)
			pub.ckpt = nil
		}
	}
	v.retire(ctx, a)
	return pub.found, nil
}

// putConfirmed uploads b under key in the validator's bucket and confirms
// the object is there with b's size.
func (v *Validator) putConfirmed(ctx context.Context, key string, b []byte) error {
	if err := v.cfg.Bucket.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	o, err := v.cfg.Bucket.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("confirm %s: %w", key, err)
	}
	if o.Size != int64(len(b)) {
		return fmt.Errorf("confirm %s: the bucket holds %d bytes, %d were sent", key, o.Size, len(b))
	}
	return nil
}

// build merges the eligible slices of window ww (the replica at base(w+1)),
// signs the aggregate and, when due, the checkpoint of base(w+1).
func (v *Validator) build(ctx context.Context, ww *windowWork, turn int) (*publication, error) {
	rank := turn
	var cs []Streamed
	raw := map[UID]*heldSlice{}
	for i := range ww.slots {
		s := &ww.slots[i]
		if s.file == nil || v.liars[s.peer.Hotkey] || ww.dupFail[s.peer.UID] || !v.opt.Ledger.Eligible(s.peer.UID) {
			continue
		}
		cs = append(cs, s.streamed())
		raw[s.peer.UID] = s.held
	}
	merged, manifest, dropped, err := mergeHeld(v.agg, ww.idx, cs)
	for _, h := range raw {
		h.release()
	}
	if err != nil {
		return nil, err
	}
	for _, u := range dropped {
		v.log.Info("duplicate slice dropped", "window", ww.w, "uid", u)
	}
	pub := &publication{copies: map[string]*heldSlice{}, manifest: manifest, dropped: dropped}
	for _, e := range manifest {
		pub.copies[UsedKey(v.p.NetUID, ww.w, e.Hotkey)] = raw[e.UID]
	}
	f := &File{Kind: KindAggregate, NetUID: v.p.NetUID, Window: ww.w, Params: v.digest, Base: v.state,
		Seed: ww.seed, Manifest: manifest, Tensors: merged}
	b, err := Encode(f, v.model.Layout(), v.cfg.Signer)
	if err != nil {
		return nil, err
	}
	pub.found = &found{file: f, raw: b, idx: ww.idx, seed: ww.seed, rank: rank,
		by: peer{Neuron: Neuron{Hotkey: v.me}}}
	pub.turn = rank
	if v.window%v.p.CheckpointInterval == 0 {
		if pub.ckpt, err = v.checkpoint(); err != nil {
			return nil, err
		}
		pub.ckptKey = CheckpointKey(v.p.NetUID, v.window)
	} else if prev := v.pubs[ww.w-1]; prev != nil && prev.ckpt != nil {
		pub.ckpt, pub.ckptKey = prev.ckpt, prev.ckptKey // a checkpoint upload that failed
	}
	return pub, nil
}

// readEvidence slashes miners whom other validators proved to equivocate:
// every validator's evidence of the windows since its last look (up to w−2,
// published at least a window ago, within retention) against its own copy of
// the miner's slice — the one it fetched, or the one it merged as lead. Two
// validly signed slices of one window with different payloads are the proof.
// It is best effort: an equivocator leaves new evidence every window it
// equivocates.
func (v *Validator) readEvidence(ctx context.Context, ww *windowWork) {
	w := ww.w
	if w < 2 {
		return
	}
	from := max(v.evidenceNext, v.p.FirstWindow)
	if w > v.p.Retention {
		from = max(from, w-v.p.Retention)
	}
	v.evidenceNext = max(v.evidenceNext, w-1)
	for x := from; x+2 <= w; x++ {
		prefix := EvidencePrefix(v.p.NetUID, x)
		for _, p := range ww.peers {
			if !p.ValidatorPermit || p.Hotkey == v.me {
				continue
			}
			st, err := v.cfg.Buckets.Open(ctx, p.Hotkey, p.commit)
			if err != nil {
				continue
			}
			objs, err := st.List(ctx, prefix)
			if err != nil {
				continue
			}
			for _, o := range objs {
				hk, err := ParseHotkey(strings.TrimSuffix(strings.TrimPrefix(o.Key, prefix), ".safetensors"))
				if err != nil || v.liars[hk] {
					continue
				}
				miner := slices.IndexFunc(ww.peers, func(q peer) bool { return q.Hotkey == hk })
				if miner < 0 {
					continue
				}
				mine, raw := v.ownCopy(ctx, x, hk)
				if mine == nil {
					continue
				}
				e := v.expectSliceOf(ctx, x, hk)
				if e == nil {
					continue
				}
				f, _, err := v.fetch(ctx, p, o.Key, e)
				if err == nil && f.PayloadHash(v.model.Layout()) != mine.PayloadHash(v.model.Layout()) {
					v.equivocated(x, ww.peers[miner].UID, hk, raw)
				}
			}
		}
	}
}

// expectSliceOf returns the expectations for hotkey's slice of window x,
// whatever base it names (two signed slices of one window are a proof).
func (v *Validator) expectSliceOf(ctx context.Context, x uint64, hk Hotkey) *Expect {
	seed, idx, err := v.seed(ctx, x)
	if err != nil {
		return nil
	}
	e := v.expect(KindSlice, x, idx)
	e.Seed, e.Hotkey = &seed, &hk
	return e
}

// ownCopy returns this validator's copy of hotkey's slice of window x: the
// one it fetched (still held), or the one it merged as lead (its used copy).
func (v *Validator) ownCopy(ctx context.Context, x uint64, hk Hotkey) (*File, []byte) {
	e := v.expectSliceOf(ctx, x, hk)
	if e == nil {
		return nil, nil
	}
	if ww := v.work[x]; ww != nil {
		for i := range ww.slots {
			if s := &ww.slots[i]; s.peer.Hotkey == hk && s.held != nil {
				if b, err := s.held.bytes(); err == nil {
					if f, err := Decode(b, e); err == nil {
						return f, b
					}
				}
			}
		}
	}
	b, err := v.cfg.Bucket.Get(ctx, UsedKey(v.p.NetUID, x, hk), e.MaxFileBytes())
	if err != nil {
		return nil, nil
	}
	f, err := Decode(b, e)
	if err != nil {
		return nil, nil
	}
	return f, b
}

// checkpoint encodes base(v.window) as a signed checkpoint.
func (v *Validator) checkpoint() ([]byte, error) {
	layout := v.model.Layout()
	f := &File{Kind: KindCheckpoint, NetUID: v.p.NetUID, Window: v.window, Params: v.digest, Base: v.state,
		Tensors: make([][]float32, len(layout))}
	for t, spec := range layout {
		f.Tensors[t] = make([]float32, spec.Len())
		if err := v.model.Read(t, f.Tensors[t]); err != nil {
			return nil, err
		}
	}
	theta, err := ThetaHash(v.model)
	if err != nil {
		return nil, err
	}
	f.Theta = theta
	if CheckpointHasMomentum(v.p, v.window) {
		mom := v.outer.Momentum()
		f.Momentum = make([][]float32, len(layout))
		for t := range layout {
			f.Momentum[t] = slices.Clone(mom.Tensor(t))
		}
		f.MomentumHash = MomentumHash(layout, f.Momentum)
	}
	return Encode(f, layout, v.cfg.Signer)
}

// retire deletes the publisher's objects that retention no longer requires:
// the aggregates and copies of windows older than Retention, and checkpoints
// but the last two (listed anew each time, so a failed delete is retried).
// A window whose objects could not all be deleted is
// tried again at the next publication (v.retired is the oldest window not
// yet cleared).
func (v *Validator) retire(ctx context.Context, w uint64) {
	if w <= v.p.Retention {
		return
	}
	old := w - v.p.Retention - 1
	v.retired = max(v.retired, old-min(old, v.p.Retention)) // a fresh start clears one retention back
windows:
	for ; v.retired <= old; v.retired++ {
		objs, err := v.cfg.Bucket.List(ctx, WindowPrefix(v.p.NetUID, v.retired))
		if err != nil {
			v.retry("retention", err)
			break
		}
		for _, o := range objs {
			if err := v.cfg.Bucket.Delete(ctx, o.Key); err != nil && !errors.Is(err, ErrNotFound) {
				v.retry("retention", err)
				break windows
			}
		}
	}
	ws, err := checkpointWindows(ctx, v.cfg.Bucket, v.p.NetUID)
	if err != nil {
		return
	}
	for i := 0; i+2 < len(ws); i++ {
		_ = v.cfg.Bucket.Delete(ctx, CheckpointKey(v.p.NetUID, ws[i]))
	}
}

// setWeights sets the ledger's weights, naming every other peer of the last
// processed window (zero for those without weight: Subtensor may require a
// minimum number of uids). A transport error is retried at the next head; a
// rate-limited call is superseded by the next window's.
func (v *Validator) setWeights(ctx context.Context) {
	if !v.weights {
		return
	}
	uids, ws := v.opt.Ledger.Weights()
	if len(uids) == 0 {
		v.weights = false
		return
	}
	if ww := v.work[v.next-min(v.next, 1)]; ww != nil {
		for _, p := range ww.peers {
			if p.Hotkey != v.me && !slices.Contains(uids, p.UID) {
				uids = append(uids, p.UID)
				ws = append(ws, 0)
			}
		}
	}
	err := v.cfg.Chain.SetWeights(ctx, v.cfg.Signer, v.p.NetUID, uids, ws, ProtocolVersion)
	switch {
	case err == nil:
		v.weights = false
		v.count(func(s *ValidatorStats) { s.WeightsSet++ })
		v.recovered("set weights")
	case errors.Is(err, ErrRateLimited):
		v.weights = false
	default:
		v.retry("set weights", err)
	}
}

// saveLedger persists a LedgerSaver ledger, retried at later heads.
func (v *Validator) saveLedger() {
	s, ok := v.opt.Ledger.(LedgerSaver)
	if !v.save || !ok || v.opt.StateDir == "" {
		return
	}
	if err := s.Save(filepath.Join(v.opt.StateDir, "ledger.json")); err != nil {
		v.retry("save ledger", err)
		return
	}
	v.save = false
	v.recovered("save ledger")
}
