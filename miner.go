package bistro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
// keep the replica at the current window's base by applying the lead's
// aggregates; compute the window's update on it; when the seed block is
// finalized, gather the slice, sign it and upload it before the deadline.
// Step is the whole loop body; Run drives it from the chain's block stream.
type Miner struct {
	*core
	strategy MinerStrategy

	pending map[uint64]pendingUpdate // computed, not yet uploaded
	done    map[uint64]bool          // windows uploaded or given up
	started bool

	statMu sync.Mutex
	stats  MinerStats
}

type pendingUpdate struct {
	delta Tensors // nil when the strategy did not train
	base  Hash    // d(w)
}

// MinerStats counts what a miner did.
type MinerStats struct {
	// Trained is how many updates it computed (its compute).
	Trained int
	// Uploaded is how many slices it uploaded.
	Uploaded int
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
	return &Miner{core: c, strategy: strategy, pending: map[uint64]pendingUpdate{}, done: map[uint64]bool{}}, nil
}

// Stats returns a snapshot of the miner's counters.
func (m *Miner) Stats() MinerStats {
	m.statMu.Lock()
	defer m.statMu.Unlock()
	return m.stats
}

// Run announces the bucket, then steps on every head until ctx ends.
func (m *Miner) Run(ctx context.Context) error {
	return run(ctx, m.cfg.Chain, m.Step)
}

// run subscribes to the chain and calls step for each head. A step error is
// returned only when ctx is done; others are the step's to log.
func run(ctx context.Context, chain Blocks, step func(context.Context, Head) error) error {
	s, err := chain.Subscribe(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		h, err := s.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := step(ctx, h); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// Step does the work head triggers. Fetch and upload failures are logged and
// retried at later heads; only a context error or a broken configuration is
// returned.
func (m *Miner) Step(ctx context.Context, h Head) error {
	if !m.started {
		if err := m.announce(ctx); err != nil {
			return fmt.Errorf("bistro: miner: announce bucket: %w", err)
		}
		m.started = true
	}
	cw := m.win.Of(h.Number)
	m.catchUp(ctx, cw, h.Finalized)
	if m.window == cw && !m.done[cw] {
		if _, ok := m.pending[cw]; !ok {
			if err := m.train(ctx, cw); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				m.log.Error("train", "window", cw, "err", err)
				m.done[cw] = true
			}
		}
	}
	m.upload(ctx, h.Finalized)
	m.statMu.Lock()
	m.stats.State = State{m.window, m.state}
	m.statMu.Unlock()
	return ctx.Err()
}

// catchUp advances the replica toward base(cw), loading a checkpoint when
// the replica is too far behind for the retained aggregates.
func (m *Miner) catchUp(ctx context.Context, cw uint64, finalized Block) {
	if m.window+m.p.Retention/2 < cw {
		if ok, err := m.loadCheckpoint(ctx, cw); err != nil {
			m.log.Warn("checkpoint", "window", cw, "err", err)
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
		agg, idx, _, err := m.fetchAggregate(ctx, a)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				m.log.Warn("aggregate", "window", a, "err", err)
			}
			return
		}
		if err := m.advance(agg, idx); err != nil {
			m.log.Error("apply aggregate", "window", a, "err", err)
			return
		}
	}
}

// train computes the update of window w on base(w).
func (m *Miner) train(ctx context.Context, w uint64) error {
	pu := pendingUpdate{base: m.state}
	if m.strategy.Train(w) {
		pages, err := MinerPages(ctx, m.p, m.cfg.Dataset, m.pages, w, m.me)
		if err != nil {
			return err
		}
		d, err := m.cfg.Trainer.Update(ctx, m.model, pages, m.p.LR.At(w), m.p.ClipNorm)
		if err != nil {
			return err
		}
		pu.delta = d
		m.statMu.Lock()
		m.stats.Trained++
		m.statMu.Unlock()
	}
	m.pending[w] = pu
	return nil
}

// upload signs and uploads every pending slice whose seed is finalized.
func (m *Miner) upload(ctx context.Context, finalized Block) {
	ws := make([]uint64, 0, len(m.pending))
	for w := range m.pending {
		ws = append(ws, w)
	}
	slices.Sort(ws)
	for _, w := range ws {
		pu := m.pending[w]
		sb, err := m.win.SeedBlock(w)
		if err != nil || finalized < sb+Block(m.strategy.UploadDelay(w)) {
			continue
		}
		delete(m.pending, w)
		m.done[w] = true
		if err := m.uploadSlice(ctx, w, pu); err != nil {
			m.log.Warn("upload", "window", w, "err", err)
		}
	}
	for w := range m.done {
		if w+m.p.Retention < m.window {
			delete(m.done, w)
			// Retention: the slice is no longer needed by anyone.
			if err := m.cfg.Bucket.Delete(ctx, SliceKey(m.p.NetUID, w, m.me)); err != nil {
				m.log.Warn("retention", "window", w, "err", err)
			}
		}
	}
}

func (m *Miner) uploadSlice(ctx context.Context, w uint64, pu pendingUpdate) error {
	seed, idx, err := m.seed(ctx, w)
	if err != nil {
		return err
	}
	f := &File{Kind: KindSlice, NetUID: m.p.NetUID, Window: w, Params: m.digest, Base: pu.base, Seed: seed}
	if pu.delta != nil {
		if f.Tensors, err = GatherAll(pu.delta, idx); err != nil {
			return err
		}
	}
	if err := m.strategy.Slice(ctx, f, idx); err != nil {
		return err
	}
	if f.Tensors == nil {
		return nil // nothing to upload
	}
	b, err := Encode(f, m.model.Layout(), m.cfg.Signer)
	if err != nil {
		return err
	}
	if err := m.cfg.Bucket.Put(ctx, SliceKey(m.p.NetUID, w, m.me), bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	m.statMu.Lock()
	m.stats.Uploaded++
	m.statMu.Unlock()
	m.log.Debug("uploaded slice", "window", w, "bytes", len(b))
	return nil
}
