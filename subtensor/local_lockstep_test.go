package subtensor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// participant reads n heads from s, doing work between them, and closes it.
func participant(ctx context.Context, s bistro.BlockStream, n int, work func(bistro.Head)) ([]bistro.Block, error) {
	defer s.Close()
	got := make([]bistro.Block, 0, n)
	for range n {
		h, err := s.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, h.Number)
		if work != nil {
			work(h)
		}
	}
	return got, nil
}

func TestLockstepManyParticipants(t *testing.T) {
	const parts, blocks = 64, 50
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := newLocal(t, nil)
	streams := make([]bistro.BlockStream, parts)
	for i := range streams {
		s, err := l.Subscribe(ctx)
		require.NoError(t, err)
		streams[i] = s
	}
	var wg sync.WaitGroup
	seen := make([][]bistro.Block, parts)
	errs := make([]error, parts)
	workErrs := make([]error, parts)
	var mu sync.Mutex
	perBlock := map[bistro.Block]int{}
	for i, s := range streams {
		wg.Go(func() {
			seen[i], errs[i] = participant(ctx, s, blocks, func(h bistro.Head) {
				// Lockstep: nobody sees block n+1 before everyone has
				// finished with block n, so the head is the block at hand.
				if cur := l.Head().Number; cur != h.Number && workErrs[i] == nil {
					workErrs[i] = fmt.Errorf("handling block %d while the head is %d", h.Number, cur)
				}
				mu.Lock()
				perBlock[h.Number]++
				mu.Unlock()
			})
		})
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- l.Run(runCtx) }()
	wg.Wait()
	stop()
	require.NoError(t, <-ran)

	want := make([]bistro.Block, blocks)
	for i := range want {
		want[i] = bistro.Block(i)
	}
	for i := range parts {
		require.NoError(t, errs[i], "participant %d", i)
		require.NoError(t, workErrs[i], "participant %d", i)
		require.Equal(t, want, seen[i], "participant %d", i)
	}
	for n := range bistro.Block(blocks) {
		assert.Equal(t, parts, perBlock[n], "block %d", n)
	}
	// With every stream closed Run pauses: the last block is the last read.
	assert.Equal(t, bistro.Block(blocks-1), l.Head().Number)
}

func TestLockstepJoinMidRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := newLocal(t, nil)
	a, err := l.Subscribe(ctx)
	require.NoError(t, err)
	aSeen := make(chan []bistro.Block, 1)
	go func() {
		got, _ := participant(ctx, a, 8, nil)
		aSeen <- got
	}()
	h, err := l.Advance(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, bistro.Block(3), h.Number)

	// b joins at the head, 3, and holds the chain there until it
	// acknowledges it.
	b, err := l.Subscribe(ctx)
	require.NoError(t, err)
	adv := make(chan error, 1)
	go func() { _, err := l.Advance(ctx, 4); adv <- err }()
	got, err := participant(ctx, b, 5, nil)
	require.NoError(t, err)
	assert.Equal(t, []bistro.Block{3, 4, 5, 6, 7}, got)
	require.NoError(t, <-adv)
	assert.Equal(t, []bistro.Block{0, 1, 2, 3, 4, 5, 6, 7}, <-aSeen)
}

func TestLockstepStreamHoldsAndCloseReleases(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, nil)
	idle, err := l.Subscribe(ctx)
	require.NoError(t, err)

	// Nobody reads idle: the chain waits for it.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = l.Advance(short, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, bistro.Block(0), l.Head().Number)

	// A stream that read a head holds the chain there too.
	_, err = idle.Next(ctx)
	require.NoError(t, err)
	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	_, err = l.Advance(short2, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Closed, it holds nothing; a cancelled Advance asked for nothing more.
	require.NoError(t, idle.Close())
	assert.Equal(t, bistro.Block(0), l.Head().Number, "cancelled Advance left no block owed")
	h := advance(t, l, 3)
	assert.Equal(t, bistro.Block(3), h.Number)
	_, err = idle.Next(ctx)
	require.ErrorIs(t, err, subtensor.ErrClosed)
	require.NoError(t, idle.Close(), "Close twice")
}

func TestLockstepNextCancelled(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, nil)
	s, err := l.Subscribe(ctx)
	require.NoError(t, err)
	_, err = s.Next(ctx)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Next(cctx)
	require.ErrorIs(t, err, context.Canceled)
	// The cancelled Next acknowledged block 0: the chain moves on, and the
	// stream still returns every block in order.
	h := advance(t, l, 1)
	got, err := s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, h, got)
	require.NoError(t, s.Close())
}

func TestLockstepCloseFromAnotherGoroutine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := newLocal(t, nil)
	const n = 16
	var wg sync.WaitGroup
	streams := make([]bistro.BlockStream, n)
	for i := range streams {
		s, err := l.Subscribe(ctx)
		require.NoError(t, err)
		streams[i] = s
		wg.Go(func() {
			for {
				if _, err := s.Next(ctx); err != nil {
					if !errors.Is(err, subtensor.ErrClosed) {
						t.Errorf("stream %d: %v", i, err)
					}
					return
				}
			}
		})
	}
	// A participant that closes stream i at block 5(i+1), racing its Next.
	closer, err := l.Subscribe(ctx)
	require.NoError(t, err)
	wg.Go(func() {
		defer closer.Close()
		for i := 0; i < n; {
			h, err := closer.Next(ctx)
			if err != nil {
				t.Errorf("closer: %v", err)
				return
			}
			if h.Number == bistro.Block(5*(i+1)) {
				streams[i].Close()
				i++
			}
		}
	})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- l.Run(runCtx) }()
	wg.Wait()
	stop()
	require.NoError(t, <-ran)
	assert.Equal(t, bistro.Block(5*n), l.Head().Number)
	h := advance(t, l, 2)
	assert.Equal(t, bistro.Block(5*n+2), h.Number)
}

func TestRealTimeTicker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		o.RealTime = true
		o.BlockTime = 2 * time.Millisecond
		o.FinalityLag = 1
	})
	s, err := l.Subscribe(ctx)
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx) }()

	// A slow reader: the chain does not wait, and Next returns every head
	// in order all the same.
	var got []bistro.Head
	for range 12 {
		h, err := s.Next(ctx)
		require.NoError(t, err)
		got = append(got, h)
		if len(got) == 3 {
			time.Sleep(20 * time.Millisecond)
			assert.Greater(t, l.Head().Number, h.Number+1, "the ticker did not wait for the reader")
		}
	}
	for i, h := range got {
		assert.Equal(t, bistro.Block(i), h.Number)
		assert.Equal(t, genesis.Add(time.Duration(i)*2*time.Millisecond), h.Time)
		assert.Equal(t, l.BlockHash(h.Number), h.Hash)
		if i > 0 {
			assert.Equal(t, h.Number-1, h.Finalized, "lag 1")
		}
	}

	// Close stops Run and its ticker: no block after it returns.
	require.NoError(t, l.Close())
	require.NoError(t, <-ran)
	last := l.Head().Number
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, last, l.Head().Number)
}

func TestRunTwice(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := newLocal(t, nil)
	s, err := l.Subscribe(ctx)
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx) }()
	_, err = s.Next(ctx)
	require.NoError(t, err)
	_, err = s.Next(ctx) // block 1 comes from Run: it is running
	require.NoError(t, err)
	require.Error(t, l.Run(ctx), "a second Run")
	cancel()
	require.NoError(t, <-ran)
}
