package bistro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// MinerStrategy decides what a miner computes and uploads. The protocol's
// strategy is Honest; localnet's adversaries and users' experiments are
// others. A strategy is called from the miner's goroutine only.
type MinerStrategy interface {
	// Train reports whether the miner computes the honest update of window
	// w (its compute cost).
	Train(w uint64) bool
	// Slice may change the slice file of window w before it is signed:
	// f.Tensors holds the honest values at idx, or nil when Train was false;
	// f.Base is d(w). An error skips the window's upload.
	Slice(ctx context.Context, f *File, idx Indices) error
	// UploadDelay is how many blocks after the seed block is finalized the
	// miner uploads (honest: 0).
	UploadDelay(w uint64) uint64
}

// Updater is an optional capability of a MinerStrategy (adversaries,
// research): it computes the update of window w itself, in place of the
// Trainer's update over all the miner's pages. The miner calls it when Train
// returns true, on its goroutine, with base the replica at base(w) — which
// it must not change nor keep — and the miner's pages of w. It returns the
// update (laid out as base) and how many of the pages it trained on: its
// compute, as MinerStats.Pages counts it.
type Updater interface {
	Update(ctx context.Context, w uint64, base Model, pages [][]int32) (Tensors, int, error)
}

// Honest is the protocol's MinerStrategy.
type Honest struct{}

var _ MinerStrategy = Honest{}

// Train returns true.
func (Honest) Train(uint64) bool { return true }

// Slice leaves the file as it is.
func (Honest) Slice(context.Context, *File, Indices) error { return nil }

// UploadDelay returns 0.
func (Honest) UploadDelay(uint64) uint64 { return 0 }

// Miner runs the miner's duties (doc.go) for each block head it is given:
// keep the replica at the current window's base by applying the aggregates
// the failover rule locates; compute the window's update on it; when the seed
// block is finalized, gather the slice, sign it once and upload it, retrying
// the same signed bytes at later heads until it is stored or the deadline is
// finalized. Step is the whole loop body; Run drives it from the chain's
// block stream.
type Miner struct {
	*core
	strategy MinerStrategy

	pending map[uint64]*minerWork // computed, not yet uploaded
	done    map[uint64]bool       // windows uploaded or given up
	started bool

	statMu sync.Mutex
	stats  MinerStats
}

// minerWork is one window's update until its slice is stored.
type minerWork struct {
	delta    Tensors // nil when the strategy did not train
	base     Hash    // d(w)
	signed   []byte  // the slice as signed: every retry sends these bytes
	nothing  bool    // the strategy uploads nothing this window
	attempts int
}

// MinerStats counts what a miner did.
type MinerStats struct {
	// Trained is how many updates it computed.
	Trained int
	// Pages is how many pages it trained on (its compute).
	Pages int
	// Uploaded is how many slices it uploaded.
	Uploaded int
	// Retries counts duties that failed at one head and were tried again.
	Retries int
	// Missed counts slices given up: not stored by the deadline.
	Missed int
	// Healed counts re-syncs to the network's aggregate.
	Healed int
	// State is the replica's base.
	State State
}

// NewMiner returns a miner; strategy nil means Honest.
func NewMiner(cfg Config, strategy MinerStrategy) (*Miner, error) {
	c, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	if strategy == nil {
		strategy = Honest{}
	}
	return &Miner{core: c, strategy: strategy, pending: map[uint64]*minerWork{}, done: map[uint64]bool{}}, nil
}

// Stats returns a snapshot of the miner's counters.
func (m *Miner) Stats() MinerStats {
	m.statMu.Lock()
	defer m.statMu.Unlock()
	return m.stats
}

// Run announces the bucket, then steps on every head until ctx ends,
// subscribing again when the stream drops.
func (m *Miner) Run(ctx context.Context) error {
	return run(ctx, m.cfg.Chain, m.log, m.Step)
}

// retry notes a duty that failed at this head and is tried again at the next.
func (m *Miner) retry(duty string, err error) {
	m.statMu.Lock()
	m.stats.Retries++
	m.statMu.Unlock()
	m.failed(duty, err)
}

// Step does the work head h allows. Every failure is retried at a later
// head; Step returns an error only when ctx ends or the configuration is
// broken (a bucket commitment the chain cannot hold).
func (m *Miner) Step(ctx context.Context, h Head) error {
	if !m.started {
		if err := m.announce(ctx); err != nil {
			if errors.Is(err, ErrBadCommitment) {
				return fmt.Errorf("bistro: announce the bucket: %w", err) // configuration: no retry helps
			}
			m.retry("announce", err)
			return ctx.Err()
		}
		m.recovered("announce")
		m.started = true
	}
	cw := m.win.Of(h.Number)
	m.catchUp(ctx, cw, h.Finalized)
	if m.window == cw && !m.done[cw] {
		if mw := m.pending[cw]; mw != nil && mw.signed == nil && mw.base != m.state {
			delete(m.pending, cw) // computed on a base the replica left (healed): again
		}
		if _, ok := m.pending[cw]; !ok {
			if err := m.train(ctx, cw); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				m.retry(fmt.Sprintf("train %d", cw), err)
			} else {
				m.recovered(fmt.Sprintf("train %d", cw))
			}
		}
	}
	m.upload(ctx, h.Finalized)
	m.statMu.Lock()
	m.stats.State = State{m.window, m.state}
	m.statMu.Unlock()
	return ctx.Err()
}

// catchUp advances the replica toward base(cw), loading a newer checkpoint
// when the replica is too far behind for the retained aggregates.
func (m *Miner) catchUp(ctx context.Context, cw uint64, finalized Block) {
	if m.window+m.p.Retention/2 < cw {
		if ok, err := m.loadCheckpoint(ctx, cw); err != nil {
			m.retry("checkpoint", err)
		} else if ok {
			clear(m.pending)
		}
	}
	for m.window < cw && ctx.Err() == nil {
		if _, ok := m.win.LastApplied(m.window + 1); !ok {
			_ = m.advance(nil, nil)
			continue
		}
		a := m.window - 1
		if dl, err := m.win.Deadline(a); err != nil || finalized < dl {
			return // the aggregate cannot exist yet
		}
		fd, err := m.findAggregate(ctx, a, finalized, nil)
		if errors.Is(err, ErrWrongBase) && fd != nil {
			healed, herr := m.heal(ctx, fd.file.Base)
			if healed {
				m.statMu.Lock()
				m.stats.Healed++
				m.statMu.Unlock()
				continue
			}
			if herr == nil || errors.Is(herr, ErrWrongBase) {
				// Deeper than one window: a checkpoint, then the aggregates.
				if ok, _ := m.resync(ctx, a); ok {
					clear(m.pending)
					continue
				}
			}
			err = errors.Join(err, herr)
		}
		if err != nil {
			if !errors.Is(err, errPending) {
				m.retry("aggregate", err)
			}
			return
		}
		if err := m.advance(fd.file, fd.idx); err != nil {
			m.retry("aggregate", err)
			return
		}
		m.recovered("aggregate")
	}
}

// train computes the update of window w on base(w).
func (m *Miner) train(ctx context.Context, w uint64) error {
	mw := &minerWork{base: m.state}
	if m.strategy.Train(w) {
		pages, err := MinerPages(ctx, m.p, m.cfg.Dataset, m.pages, w, m.me)
		if err != nil {
			return err
		}
		used := len(pages)
		var d Tensors
		if u, ok := m.strategy.(Updater); ok {
			d, used, err = u.Update(ctx, w, m.model, pages)
			used = min(max(used, 0), len(pages))
		} else {
			d, err = TrainUpdate(ctx, m.p, m.cfg.Trainer, m.model, pages, w)
		}
		if err != nil {
			return err
		}
		mw.delta = d
		m.statMu.Lock()
		m.stats.Trained++
		m.stats.Pages += used
		m.statMu.Unlock()
	}
	m.pending[w] = mw
	return nil
}

// upload signs (once) and uploads every pending slice whose seed is
// finalized; a failed upload is retried at later heads, with the same bytes,
// until the deadline is finalized.
func (m *Miner) upload(ctx context.Context, finalized Block) {
	ws := make([]uint64, 0, len(m.pending))
	for w := range m.pending {
		ws = append(ws, w)
	}
	slices.Sort(ws)
	for _, w := range ws {
		mw := m.pending[w]
		sb, err := m.win.SeedBlock(w)
		if err != nil || finalized < sb+Block(m.strategy.UploadDelay(w)) {
			continue
		}
		if dl, err := m.win.Deadline(w); mw.attempts > 0 && (err != nil || finalized >= dl) {
			m.log.Warn("slice not stored by the deadline: given up", "window", w)
			m.statMu.Lock()
			m.stats.Missed++
			m.statMu.Unlock()
			delete(m.pending, w)
			m.done[w] = true
			continue
		}
		mw.attempts++
		if err := m.uploadSlice(ctx, w, mw); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.retry(fmt.Sprintf("upload %d", w), err)
			continue
		}
		m.recovered(fmt.Sprintf("upload %d", w))
		delete(m.pending, w)
		m.done[w] = true
	}
	for w := range m.done {
		if w+m.p.Retention < m.window {
			// Retention: the slice is no longer needed by anyone.
			if err := m.cfg.Bucket.Delete(ctx, SliceKey(m.p.NetUID, w, m.me)); err != nil && !errors.Is(err, ErrNotFound) {
				m.retry("retention", err)
				continue
			}
			delete(m.done, w)
		}
	}
}

// uploadSlice signs the slice of window w the first time and uploads the
// signed bytes.
func (m *Miner) uploadSlice(ctx context.Context, w uint64, mw *minerWork) error {
	if mw.nothing {
		return nil
	}
	if mw.signed == nil {
		seed, idx, err := m.seed(ctx, w)
		if err != nil {
			return err
		}
		f := &File{Kind: KindSlice, NetUID: m.p.NetUID, Window: w, Params: m.digest, Base: mw.base, Seed: seed}
		if mw.delta != nil {
			if f.Tensors, err = GatherAll(mw.delta, idx); err != nil {
				return err
			}
		}
		if err := m.strategy.Slice(ctx, f, idx); err != nil {
			return err
		}
		if f.Tensors == nil {
			mw.nothing = true
			return nil // nothing to upload
		}
		b, err := Encode(f, m.model.Layout(), m.cfg.Signer)
		if err != nil {
			return err
		}
		mw.signed, mw.delta = b, nil
	}
	b := mw.signed
	if err := m.cfg.Bucket.Put(ctx, SliceKey(m.p.NetUID, w, m.me), bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	m.statMu.Lock()
	m.stats.Uploaded++
	m.statMu.Unlock()
	m.log.Debug("uploaded slice", "window", w, "bytes", len(b))
	return nil
}

// run subscribes to the chain and calls step for each head, subscribing
// again (with a growing pause) when the stream or the subscription fails.
// A step returns an error only when ctx ends.
func run(ctx context.Context, chain Blocks, log *slog.Logger, step func(context.Context, Head) error) error {
	pause := time.Second
	for ctx.Err() == nil {
		s, err := chain.Subscribe(ctx)
		if err != nil {
			log.Warn("subscribe failed; trying again", "err", err, "in", pause)
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			pause = min(2*pause, 30*time.Second)
			continue
		}
		pause = time.Second
		for {
			h, err := s.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("block stream ended; subscribing again", "err", err)
				}
				break
			}
			if err := step(ctx, h); err != nil && ctx.Err() == nil {
				s.Close()
				return err
			}
		}
		s.Close()
	}
	return nil
}
