package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// Subscribe opens a stream of the chain's heads that starts at the current
// one: the best block, or with Options.FinalizedHeads the finalized one.
// Streams follow the real chain: they never hold it up. Next returns every
// block in order, none skipped: blocks the node's notifications jump over
// (several blocks between two notifications, a reorganisation, a
// reconnection) are found by walking parent hashes back from the new head.
func (c *Client) Subscribe(ctx context.Context) (bistro.BlockStream, error) {
	s := &BlockStream{c: c, finalized: c.opts.FinalizedHeads, done: make(chan struct{})}
	// Subscribe before reading the head, so that no block comes between.
	if err := s.resubscribe(ctx); err != nil {
		return nil, err
	}
	var hd *Header
	var err error
	if s.finalized {
		var h bistro.Hash
		if _, h, err = c.FinalizedHead(ctx); err == nil {
			hd, err = c.Header(ctx, h)
		}
	} else {
		hd, err = c.BestHeader(ctx)
	}
	if err == nil {
		var head bistro.Head
		if head, err = s.headOf(ctx, hd); err == nil {
			s.queue = append(s.queue, head)
			s.tip = head
			return s, nil
		}
	}
	s.Close()
	return nil, err
}

// BlockStream is a stream of heads on a Client (see Client.Subscribe). Next
// must not be called concurrently; Close may be called at any time.
type BlockStream struct {
	c         *Client
	finalized bool

	mu    sync.Mutex // guards sub against Close
	sub   *Subscription
	queue []bistro.Head
	tip   bistro.Head // the last head queued
	done  chan struct{}
	once  sync.Once
}

var _ bistro.BlockStream = (*BlockStream)(nil)

func (s *BlockStream) resubscribe(ctx context.Context) error {
	method, unsub := "chain_subscribeNewHeads", "chain_unsubscribeNewHeads"
	if s.finalized {
		method, unsub = "chain_subscribeFinalizedHeads", "chain_unsubscribeFinalizedHeads"
	}
	sub, err := s.c.subscribe(ctx, method, unsub, nil)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		sub.Close()
		return subtensor.ErrClosed
	default:
	}
	s.sub = sub
	return nil
}

// Next returns the head after the last one returned, waiting for it. A
// connection lost meanwhile is redialled and the stream renewed, blocks
// missed in between returned in order; when the endpoint cannot be
// reached again (Options.Retries more tries, RetryDelay apart, doubling),
// Next returns an error wrapping subtensor.ErrStreamDropped and the cause.
func (s *BlockStream) Next(ctx context.Context) (bistro.Head, error) {
	for {
		select {
		case <-s.done:
			return bistro.Head{}, subtensor.ErrClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return bistro.Head{}, err
		}
		if len(s.queue) > 0 {
			h := s.queue[0]
			s.queue = s.queue[1:]
			return h, nil
		}
		s.mu.Lock()
		sub := s.sub
		s.mu.Unlock()
		if sub == nil {
			if err := s.renew(ctx); err != nil {
				return bistro.Head{}, err
			}
			continue
		}
		raw, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return bistro.Head{}, ctx.Err()
			}
			if errors.Is(err, ErrConnectionLost) {
				s.mu.Lock()
				s.sub = nil
				s.mu.Unlock()
				continue
			}
			return bistro.Head{}, err
		}
		if err := s.extend(ctx, raw); err != nil {
			return bistro.Head{}, err
		}
	}
}

// renew subscribes again after a lost connection, trying Options.Retries
// more times RetryDelay apart (doubling) while the endpoint is unreachable.
func (s *BlockStream) renew(ctx context.Context) error {
	delay := s.c.opts.RetryDelay
	for attempt := 0; ; attempt++ {
		err := s.resubscribe(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, subtensor.ErrClosed) {
			return err
		}
		if attempt >= s.c.opts.Retries {
			return fmt.Errorf("%w: %w", subtensor.ErrStreamDropped, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.done:
			t.Stop()
			return subtensor.ErrClosed
		case <-t.C:
		}
		delay *= 2
	}
}

// extend queues the heads from the tip to the notified header.
func (s *BlockStream) extend(ctx context.Context, raw json.RawMessage) error {
	var rh rpcHeader
	if err := json.Unmarshal(raw, &rh); err != nil {
		return fmt.Errorf("subtensor/client: head notification %.200s: %w", raw, err)
	}
	hd, err := rh.parse()
	if err != nil {
		return err
	}
	if hd.Number <= s.tip.Number {
		return nil // a head already returned, or a fork below the tip
	}
	chain := []*Header{hd}
	for chain[0].Number > s.tip.Number+1 {
		parent, err := s.c.Header(ctx, chain[0].ParentHash)
		if err != nil {
			return fmt.Errorf("subtensor/client: filling the gap below block %d: %w", chain[0].Number, err)
		}
		chain = append([]*Header{parent}, chain...)
	}
	for _, h := range chain {
		head, err := s.headOf(ctx, h)
		if err != nil {
			return err
		}
		s.queue = append(s.queue, head)
		s.tip = head
	}
	return nil
}

func (s *BlockStream) headOf(ctx context.Context, hd *Header) (bistro.Head, error) {
	if s.finalized {
		t, err := s.c.Timestamp(ctx, hd.Hash)
		if err != nil {
			return bistro.Head{}, err
		}
		return bistro.Head{Number: hd.Number, Hash: hd.Hash, Time: t, Finalized: hd.Number}, nil
	}
	return s.c.headOf(ctx, hd, s.tip.Finalized)
}

// Close ends the stream; Next then returns subtensor.ErrClosed.
func (s *BlockStream) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		sub := s.sub
		s.sub = nil
		s.mu.Unlock()
		if sub != nil {
			sub.Close()
		}
	})
	return nil
}

// FinalizedHash returns the hash of block n once it is finalized, and
// bistro.ErrNotFinalized before.
func (c *Client) FinalizedHash(ctx context.Context, n bistro.Block) (bistro.Hash, error) {
	fin, h, err := c.FinalizedHead(ctx)
	if err != nil {
		return bistro.Hash{}, err
	}
	if n > fin {
		return bistro.Hash{}, fmt.Errorf("subtensor/client: block %d: finalized head is %d: %w", n, fin, bistro.ErrNotFinalized)
	}
	if n == fin {
		return h, nil
	}
	return c.BlockHash(ctx, n)
}
