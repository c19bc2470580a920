package bistro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrAggregateMismatch is returned (and logged loudly) when the lead's
// aggregate differs from the validator's own merge of the same slices: the
// validator refuses to follow it.
var ErrAggregateMismatch = errors.New("bistro: the lead's aggregate does not match the slices it names")

// ValidatorOptions are a validator's local choices; none of them can split
// the network. Zero values take the defaults.
type ValidatorOptions struct {
	// Scorer compares slices with recomputations (DefaultPassFail).
	Scorer Scorer
	// Sampler picks whom to recompute (NewSampler: crypto/rand).
	Sampler Sampler
	// Ledger keeps the scores. Nil: a MovingAverage with Alpha, loaded from
	// StateDir when set.
	Ledger Ledger
	// Alpha is the default ledger's smoothing (0.2).
	Alpha float64
	// SampleSize is how many miners are recomputed per window (4).
	SampleSize int
	// StateDir, when set, holds the persisted ledger (ledger.json).
	StateDir string
	// Aggregator overrides the Params' aggregator when this validator leads
	// (research on a local network only: the others will refuse its
	// aggregates unless they use the same).
	Aggregator Aggregator
	// OnAggregate, when set, is told what the validator merged as lead:
	// the manifest of window w and the uids dropped as duplicates.
	OnAggregate func(w uint64, manifest []ManifestEntry, dropped []UID)
}

// ValidatorStats counts what a validator did.
type ValidatorStats struct {
	Windows      int // windows processed
	Fetched      int // slices that passed the cheap checks
	Rejected     int // slices missing or failing the cheap checks
	Recomputed   int // recomputations (its compute)
	Led          int // aggregates published as lead
	Verified     int // aggregates checked bit for bit
	Mismatches   int // aggregates refused
	Equivocators int // equivocations proven
	WeightsSet   int
	State        State
	// FetchTime is the time spent fetching and checking slices, RecomputeTime
	// the time spent recomputing and scoring the sample (Config.Clock). They
	// are measurements, not results: JSON leaves them out.
	FetchTime     time.Duration `json:"-"`
	RecomputeTime time.Duration `json:"-"`
}

// Validator runs the validator's duties (doc.go) each window once its
// deadline is finalized: fetch and check every miner's slice, recompute a
// private sample, score and record, check the lead's previous aggregate bit
// for bit and apply it, lead when it is the lead, set weights, persist.
type Validator struct {
	*core
	opt ValidatorOptions
	agg Aggregator

	next    uint64 // next window to process
	started bool
	history map[uint64]*windowSlices // the last windows' slices
	refused map[uint64]bool          // aggregates refused
	liars   map[Hotkey]bool          // proven equivocators

	statMu sync.Mutex
	stats  ValidatorStats
}

// windowSlices is what a validator fetched for one window.
type windowSlices struct {
	w     uint64
	seed  Hash
	idx   Indices
	state Hash // d(w)
	slots []slot
}

type slot struct {
	peer peer
	file *File
	raw  []byte
	sum  Hash // the payload hash once decoded
	err  error
}

func (ws *windowSlices) find(uid UID) *slot {
	for i := range ws.slots {
		if ws.slots[i].peer.UID == uid {
			return &ws.slots[i]
		}
	}
	return nil
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
	if opt.Alpha == 0 {
		opt.Alpha = 0.2
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
		l, err := LoadMovingAverage(path, opt.Alpha)
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
	return &Validator{core: c, opt: opt, agg: agg, history: map[uint64]*windowSlices{},
		refused: map[uint64]bool{}, liars: map[Hotkey]bool{}}, nil
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

// Run announces the bucket, then steps on every head until ctx ends.
func (v *Validator) Run(ctx context.Context) error { return run(ctx, v.cfg.Chain, v.Step) }

// Step processes every window whose deadline head.Finalized has reached.
func (v *Validator) Step(ctx context.Context, h Head) error {
	if !v.started {
		if err := v.announce(ctx); err != nil {
			return fmt.Errorf("bistro: validator: announce bucket: %w", err)
		}
		v.started = true
		// A validator starting late scores from the current window on.
		v.next = max(v.win.Of(h.Number), v.p.FirstWindow)
	}
	for ctx.Err() == nil {
		dl, err := v.win.Deadline(v.next)
		if err != nil || h.Finalized < dl {
			break
		}
		w := v.next
		v.next++
		if err := v.process(ctx, w); err != nil && ctx.Err() == nil {
			v.log.Error("window", "window", w, "err", err)
		}
	}
	v.count(func(s *ValidatorStats) { s.State = State{v.window, v.state} })
	return ctx.Err()
}

// catchUp brings the replica to base(w) by applying the lead's aggregates
// (or loading a checkpoint when far behind).
func (v *Validator) catchUp(ctx context.Context, w uint64) error {
	if v.window+v.p.Retention/2 < w {
		if _, err := v.loadCheckpoint(ctx, w); err != nil {
			v.log.Warn("checkpoint", "window", w, "err", err)
		}
	}
	for v.window < w {
		if _, ok := v.win.LastApplied(v.window + 1); !ok {
			_ = v.advance(nil, nil)
			continue
		}
		a := v.window - 1
		if v.refused[a] {
			return fmt.Errorf("%w: window %d (refused earlier)", ErrAggregateMismatch, a)
		}
		agg, idx, _, err := v.fetchAggregate(ctx, a)
		if err != nil {
			return fmt.Errorf("aggregate of window %d: %w", a, err)
		}
		if err := v.advance(agg, idx); err != nil {
			return err
		}
	}
	return nil
}

// process is one window's work, at the finalized deadline of w.
func (v *Validator) process(ctx context.Context, w uint64) error {
	if err := v.catchUp(ctx, w); err != nil {
		return fmt.Errorf("replica not at base(%d): %w", w, err)
	}
	seed, idx, err := v.seed(ctx, w)
	if err != nil {
		return err
	}
	dl, _ := v.win.Deadline(w)
	peers, err := v.peers(ctx, dl)
	if err != nil {
		return err
	}
	cur := &windowSlices{w: w, seed: seed, idx: idx, state: v.state}
	for _, p := range peers {
		if p.Hotkey != v.me {
			cur.slots = append(cur.slots, slot{peer: p})
		}
	}
	t0 := v.cfg.Clock.Now()
	v.fetchSlices(ctx, cur)
	t1 := v.cfg.Clock.Now()
	v.score(ctx, cur)
	t2 := v.cfg.Clock.Now()
	v.count(func(s *ValidatorStats) { s.FetchTime += t1.Sub(t0); s.RecomputeTime += t2.Sub(t1) })

	// base(w) → base(w+1) with the lead's aggregate of w−1, checked first.
	if err := v.applyPrevious(ctx, w); err != nil {
		return err
	}
	if l, err := v.leadOf(ctx, w); err == nil && l.Hotkey == v.me {
		if err := v.lead(ctx, cur); err != nil {
			v.log.Error("lead", "window", w, "err", err)
		}
	}
	v.history[w] = cur
	delete(v.history, w-min(w, 3))
	v.setWeights(ctx, peers)
	if s, ok := v.opt.Ledger.(interface{ Save(string) error }); ok && v.opt.StateDir != "" {
		if err := s.Save(filepath.Join(v.opt.StateDir, "ledger.json")); err != nil {
			v.log.Error("save ledger", "err", err)
		}
	}
	v.count(func(s *ValidatorStats) { s.Windows++ })
	return nil
}

// fetchSlices fetches and checks every miner's slice, a few at a time.
func (v *Validator) fetchSlices(ctx context.Context, ws *windowSlices) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(v.cfg.FetchConcurrency)
	for i := range ws.slots {
		s := &ws.slots[i]
		g.Go(func() error {
			e := v.expect(KindSlice, ws.w, ws.idx)
			e.Seed, e.Base, e.Hotkey = &ws.seed, &ws.state, &s.peer.Hotkey
			s.file, s.raw, _, s.err = v.fetch(gctx, s.peer, SliceKey(v.p.NetUID, ws.w, s.peer.Hotkey), e)
			if s.err == nil {
				s.sum = s.file.PayloadHash(v.model.Layout())
				s.err = CheckNorm(v.p, ws.w, s.file.Tensors)
			}
			if s.err != nil {
				s.file = nil
			}
			return nil
		})
	}
	_ = g.Wait()
}

// score records the cheap checks of every miner and the recomputed scores of
// a sample.
func (v *Validator) score(ctx context.Context, ws *windowSlices) {
	var ok []UID
	for _, s := range ws.slots {
		if s.err != nil {
			reason := s.err.Error()
			if errors.Is(s.err, ErrNotFound) {
				reason = "no slice by the deadline"
			}
			v.opt.Ledger.Record(ws.w, s.peer.UID, s.peer.Hotkey, Score{Value: 0, Verdict: Fail, Reason: reason})
			v.count(func(st *ValidatorStats) { st.Rejected++ })
			continue
		}
		if v.liars[s.peer.Hotkey] {
			v.opt.Ledger.Record(ws.w, s.peer.UID, s.peer.Hotkey, Score{Value: 0, Verdict: Slash, Reason: "equivocated"})
			continue
		}
		ok = append(ok, s.peer.UID)
		v.count(func(st *ValidatorStats) { st.Fetched++ })
	}
	for _, uid := range v.opt.Sampler.Sample(ws.w, ok, v.opt.Ledger.Evaluated, v.opt.SampleSize) {
		s := ws.find(uid)
		ref, err := Recompute(ctx, v.p, v.model, v.cfg.Trainer, v.cfg.Dataset, v.pages, ws.w, s.peer.Hotkey, ws.idx)
		if err != nil {
			v.log.Error("recompute", "window", ws.w, "uid", uid, "err", err)
			continue
		}
		sc := v.opt.Scorer.Score(s.file.Tensors, ref)
		v.opt.Ledger.Record(ws.w, uid, s.peer.Hotkey, sc)
		v.count(func(st *ValidatorStats) { st.Recomputed++ })
		v.log.Debug("scored", "window", ws.w, "uid", uid, "verdict", sc.Verdict.String(), "reason", sc.Reason)
	}
}

// applyPrevious checks the aggregate of w−1 against the slices of w−1 this
// validator fetched, then applies it: base(w) → base(w+1).
func (v *Validator) applyPrevious(ctx context.Context, w uint64) error {
	if _, ok := v.win.LastApplied(w + 1); !ok {
		return v.advance(nil, nil)
	}
	a := w - 1
	agg, idx, l, err := v.fetchAggregate(ctx, a)
	if err != nil {
		return fmt.Errorf("aggregate of window %d: %w", a, err)
	}
	if prev := v.history[a]; prev != nil {
		if err := v.verify(ctx, agg, prev, l); err != nil {
			v.refused[a] = true
			v.count(func(s *ValidatorStats) { s.Mismatches++ })
			v.log.Error("REFUSING the lead's aggregate", "window", a, "lead", l.Hotkey.String(), "err", err)
			return err
		}
		v.count(func(s *ValidatorStats) { s.Verified++ })
	}
	return v.advance(agg, idx)
}

// verify recomputes the lead's merge from the slices its manifest names.
// Where this validator's copy of a slice differs from the lead's, it takes
// the lead's copy (kept under UsedKey) after checking the miner's signature;
// two different signed slices prove the miner equivocated: it is slashed and
// the evidence published.
func (v *Validator) verify(ctx context.Context, agg *File, prev *windowSlices, l peer) error {
	cs := make([]Contribution, 0, len(agg.Manifest))
	for _, e := range agg.Manifest {
		s := prev.find(e.UID)
		if s != nil && s.file != nil && s.sum == e.Payload && s.peer.Hotkey == e.Hotkey {
			cs = append(cs, Contribution{UID: e.UID, Hotkey: e.Hotkey, Payload: e.Payload, Values: s.file.Tensors})
			continue
		}
		x := v.expect(KindSlice, prev.w, prev.idx)
		x.Seed, x.Base, x.Hotkey = &prev.seed, &prev.state, &e.Hotkey
		f, _, _, err := v.fetch(ctx, l, UsedKey(v.p.NetUID, prev.w, e.Hotkey), x)
		if err != nil {
			return fmt.Errorf("%w: uid %d: the lead's copy of the slice: %v", ErrAggregateMismatch, e.UID, err)
		}
		sum := f.PayloadHash(v.model.Layout())
		if sum != e.Payload {
			return fmt.Errorf("%w: uid %d: the lead's copy is not the slice its manifest names", ErrAggregateMismatch, e.UID)
		}
		if s != nil && s.raw != nil && s.peer.Hotkey == e.Hotkey {
			if mine, err := Decode(s.raw, x); err == nil && mine.PayloadHash(v.model.Layout()) != sum {
				v.equivocated(ctx, prev.w, s)
			}
		}
		cs = append(cs, Contribution{UID: e.UID, Hotkey: e.Hotkey, Payload: sum, Values: f.Tensors})
	}
	merged, manifest, _, err := MergeSlices(v.agg, prev.idx, cs)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAggregateMismatch, err)
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

// equivocated records a proven equivocation: s is this validator's copy of
// a slice; another validly signed one by the same miner for the same window
// has another payload.
func (v *Validator) equivocated(ctx context.Context, w uint64, s *slot) {
	if !v.liars[s.peer.Hotkey] {
		v.count(func(st *ValidatorStats) { st.Equivocators++ })
	}
	v.liars[s.peer.Hotkey] = true
	v.opt.Ledger.Record(w, s.peer.UID, s.peer.Hotkey, Score{Value: 0, Verdict: Slash, Reason: "two different signed slices"})
	v.log.Warn("equivocation", "window", w, "uid", s.peer.UID, "miner", s.peer.Hotkey.String())
	key := EvidenceKey(v.p.NetUID, w, s.peer.Hotkey)
	if err := v.cfg.Bucket.Put(ctx, key, bytes.NewReader(s.raw), int64(len(s.raw))); err != nil {
		v.log.Error("publish evidence", "key", key, "err", err)
	}
}

// lead merges the eligible slices of the window, publishes the aggregate and
// the copies it used, reads other validators' evidence, and checkpoints.
func (v *Validator) lead(ctx context.Context, ws *windowSlices) error {
	v.readEvidence(ctx, ws.w)
	var cs []Contribution
	raw := map[UID][]byte{}
	for _, s := range ws.slots {
		if s.file == nil || v.liars[s.peer.Hotkey] || !v.opt.Ledger.Eligible(s.peer.UID) {
			continue
		}
		cs = append(cs, Contribution{UID: s.peer.UID, Hotkey: s.peer.Hotkey, Payload: s.sum, Values: s.file.Tensors})
		raw[s.peer.UID] = s.raw
	}
	merged, manifest, dropped, err := MergeSlices(v.agg, ws.idx, cs)
	if err != nil {
		return err
	}
	for _, u := range dropped {
		v.log.Info("duplicate slice dropped", "window", ws.w, "uid", u)
	}
	// The copies first: a validator that sees the aggregate finds them.
	for _, e := range manifest {
		b := raw[e.UID]
		if err := v.cfg.Bucket.Put(ctx, UsedKey(v.p.NetUID, ws.w, e.Hotkey), bytes.NewReader(b), int64(len(b))); err != nil {
			return err
		}
	}
	f := &File{Kind: KindAggregate, NetUID: v.p.NetUID, Window: ws.w, Params: v.digest, Base: v.state,
		Seed: ws.seed, Manifest: manifest, Tensors: merged}
	b, err := Encode(f, v.model.Layout(), v.cfg.Signer)
	if err != nil {
		return err
	}
	if err := v.cfg.Bucket.Put(ctx, AggregateKey(v.p.NetUID, ws.w), bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	v.count(func(s *ValidatorStats) { s.Led++ })
	v.log.Info("published aggregate", "window", ws.w, "slices", len(manifest))
	if v.opt.OnAggregate != nil {
		v.opt.OnAggregate(ws.w, manifest, dropped)
	}
	if v.window%v.p.CheckpointInterval == 0 {
		if err := v.checkpoint(ctx); err != nil {
			v.log.Error("checkpoint", "window", v.window, "err", err)
		}
	}
	v.retire(ctx, ws.w)
	return nil
}

// readEvidence slashes miners whom other validators proved to equivocate in
// window w−2 (published one window ago, so every validator sees the same).
func (v *Validator) readEvidence(ctx context.Context, w uint64) {
	if w < 2 {
		return
	}
	old := v.history[w-2]
	if old == nil {
		return
	}
	dl, _ := v.win.Deadline(w)
	peers, err := v.peers(ctx, dl)
	if err != nil {
		return
	}
	prefix := fmt.Sprintf("bistro/v1/%d/%d/evidence/", v.p.NetUID, w-2)
	for _, p := range peers {
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
			var mine *slot
			for i := range old.slots {
				if old.slots[i].peer.Hotkey == hk {
					mine = &old.slots[i]
				}
			}
			if mine == nil || mine.file == nil {
				continue
			}
			x := v.expect(KindSlice, old.w, old.idx)
			x.Seed, x.Base, x.Hotkey = &old.seed, &old.state, &hk
			f, _, _, err := v.fetch(ctx, p, o.Key, x)
			if err == nil && f.PayloadHash(v.model.Layout()) != mine.sum {
				v.equivocated(ctx, old.w, mine)
			}
		}
	}
}

// checkpoint publishes base(v.window) as a signed checkpoint.
func (v *Validator) checkpoint(ctx context.Context) error {
	layout := v.model.Layout()
	f := &File{Kind: KindCheckpoint, NetUID: v.p.NetUID, Window: v.window, Params: v.digest, Base: v.state,
		Tensors: make([][]float32, len(layout))}
	for t, spec := range layout {
		f.Tensors[t] = make([]float32, spec.Len())
		if err := v.model.Read(t, f.Tensors[t]); err != nil {
			return err
		}
	}
	theta, err := ThetaHash(v.model)
	if err != nil {
		return err
	}
	f.Theta = theta
	b, err := Encode(f, layout, v.cfg.Signer)
	if err != nil {
		return err
	}
	if err := v.cfg.Bucket.Put(ctx, CheckpointKey(v.p.NetUID, v.window), bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	v.log.Info("published checkpoint", "window", v.window)
	return nil
}

// retire deletes the lead's objects that retention no longer requires: the
// aggregates and copies of windows older than Retention, and checkpoints
// but the last two.
func (v *Validator) retire(ctx context.Context, w uint64) {
	if w <= v.p.Retention {
		return
	}
	old := w - v.p.Retention - 1
	_ = v.cfg.Bucket.Delete(ctx, AggregateKey(v.p.NetUID, old))
	prefix := fmt.Sprintf("bistro/v1/%d/%d/", v.p.NetUID, old)
	if objs, err := v.cfg.Bucket.List(ctx, prefix); err == nil {
		for _, o := range objs {
			_ = v.cfg.Bucket.Delete(ctx, o.Key)
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

// setWeights sets the ledger's weights, naming every other peer (zero for
// those without weight: Subtensor may require a minimum number of uids); a
// rate-limited call waits for a later window.
func (v *Validator) setWeights(ctx context.Context, peers []peer) {
	uids, ws := v.opt.Ledger.Weights()
	if len(uids) == 0 {
		return
	}
	for _, p := range peers {
		if p.Hotkey != v.me && !slices.Contains(uids, p.UID) {
			uids = append(uids, p.UID)
			ws = append(ws, 0)
		}
	}
	err := v.cfg.Chain.SetWeights(ctx, v.cfg.Signer, v.p.NetUID, uids, ws, ProtocolVersion)
	switch {
	case err == nil:
		v.count(func(s *ValidatorStats) { s.WeightsSet++ })
	case errors.Is(err, ErrRateLimited):
	default:
		v.log.Warn("set weights", "err", err)
	}
}
