package operator

import (
	"context"
	"io"
	"time"

	"github.com/bistro-go/bistro"
)

// The node observes the loops through thin wrappers around their
// dependencies: what they do is unchanged, only timed and counted.

// observedStore times a Storage's calls; writes count as op "upload" (own
// bucket) and reads as op (own reads "read", others' buckets "fetch").
type observedStore struct {
	bistro.Storage
	m    *Metrics
	read string
}

func (s observedStore) done(ctx context.Context, op string, start time.Time, err error) {
	s.m.StorageSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.StorageErrors.WithLabelValues(op, errKind(ctx, err)).Inc()
	}
}

func (s observedStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := s.Storage.Put(ctx, key, r, size)
	s.done(ctx, "upload", start, err)
	return err
}

func (s observedStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	start := time.Now()
	b, err := s.Storage.Get(ctx, key, max)
	s.done(ctx, s.read, start, err)
	return b, err
}

func (s observedStore) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	start := time.Now()
	o, err := s.Storage.Stat(ctx, key)
	s.done(ctx, "stat", start, err)
	return o, err
}

func (s observedStore) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	start := time.Now()
	o, err := s.Storage.List(ctx, prefix)
	s.done(ctx, "list", start, err)
	return o, err
}

func (s observedStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.Storage.Delete(ctx, key)
	s.done(ctx, "delete", start, err)
	return err
}

// observedBuckets wraps the stores of other participants' buckets.
type observedBuckets struct {
	bistro.Buckets
	m *Metrics
}

func (b observedBuckets) Open(ctx context.Context, owner bistro.Hotkey, c bistro.Commitment) (bistro.Storage, error) {
	st, err := b.Buckets.Open(ctx, owner, c)
	if err != nil {
		return nil, err
	}
	return observedStore{Storage: st, m: b.m, read: "fetch"}, nil
}

// observedChain notes heads and weights and counts failed calls.
type observedChain struct {
	bistro.Chain
	m      *Metrics
	window func(bistro.Block) uint64
	onHead func(bistro.Head)
}

func (c observedChain) fail(ctx context.Context, call string, err error) {
	if err != nil {
		c.m.ChainErrors.WithLabelValues(call, errKind(ctx, err)).Inc()
	}
}

func (c observedChain) Subscribe(ctx context.Context) (bistro.BlockStream, error) {
	s, err := c.Chain.Subscribe(ctx)
	c.fail(ctx, "subscribe", err)
	if err != nil {
		return nil, err
	}
	return observedStream{BlockStream: s, c: c}, nil
}

func (c observedChain) FinalizedHash(ctx context.Context, n bistro.Block) (bistro.Hash, error) {
	h, err := c.Chain.FinalizedHash(ctx, n)
	if err != nil && err != bistro.ErrNotFinalized {
		c.fail(ctx, "finalized_hash", err)
	}
	return h, err
}

func (c observedChain) Neurons(ctx context.Context, netuid uint16, at bistro.Block) ([]bistro.Neuron, error) {
	ns, err := c.Chain.Neurons(ctx, netuid, at)
	c.fail(ctx, "neurons", err)
	return ns, err
}

func (c observedChain) Commit(ctx context.Context, signer bistro.Signer, netuid uint16, fields [][]byte) error {
	err := c.Chain.Commit(ctx, signer, netuid, fields)
	c.fail(ctx, "commit", err)
	return err
}

func (c observedChain) SetWeights(ctx context.Context, signer bistro.Signer, netuid uint16, uids []bistro.UID, weights []uint16, versionKey uint64) error {
	err := c.Chain.SetWeights(ctx, signer, netuid, uids, weights, versionKey)
	c.fail(ctx, "set_weights", err)
	if err == nil {
		c.m.weights(uids, weights)
	}
	return err
}

type observedStream struct {
	bistro.BlockStream
	c observedChain
}

func (s observedStream) Next(ctx context.Context) (bistro.Head, error) {
	h, err := s.BlockStream.Next(ctx)
	if err == nil {
		s.c.m.head(h, s.c.window(h.Number))
		if s.c.onHead != nil {
			s.c.onHead(h)
		}
	}
	return h, err
}

// observedTrainer times updates.
type observedTrainer struct {
	bistro.Trainer
	m *Metrics
}

func (t observedTrainer) Update(ctx context.Context, m bistro.Model, pages [][]int32, lr, clipNorm float64) (bistro.Tensors, error) {
	start := time.Now()
	d, err := t.Trainer.Update(ctx, m, pages, lr, clipNorm)
	if err == nil {
		sec := time.Since(start).Seconds()
		t.m.UpdateSeconds.Observe(sec)
		tokens := 0
		for _, p := range pages {
			tokens += len(p)
		}
		if sec > 0 {
			t.m.TokensPerSecond.Set(float64(tokens) / sec)
		}
	}
	return d, err
}

// observedScorer counts verdicts.
type observedScorer struct {
	bistro.Scorer
	m *Metrics
}

func (s observedScorer) Score(miner, validator [][]float32) bistro.Score {
	sc := s.Scorer.Score(miner, validator)
	s.m.Scores.WithLabelValues(sc.Verdict.String()).Inc()
	return sc
}
