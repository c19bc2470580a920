package subtensor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bistro-go/bistro"
)

// Local is an in-process chain that implements bistro.Chain the way
// Subtensor behaves wherever the protocol can tell: blocks with unpredictable
// hashes and a finality lag, registration with pruning and immunity, stake
// with its history, validator permits, commitments with Subtensor's limits,
// set_weights with its checks and rate limit, and an epoch every tempo blocks
// that turns weights into incentive by Yuma consensus. The package doc lists
// what is simplified.
//
// Transactions (Register, AddStake, SetStake, Commit, SetWeights) are
// checked and applied at once, and included in the block after the head,
// as an extrinsic submitted now would be. Reads (Neurons, Commitment,
// Incentive) show only produced blocks, so during one lockstep step every
// participant reads the same state whatever the order they run in.
//
// All methods are safe for concurrent use. A BlockStream is read by one
// goroutine; its Close may come from any.
type Local struct {
	lockstep  bool
	blockTime time.Duration
	genesis   time.Time
	verify    bool
	log       *slog.Logger
	hashPre   []byte // length-prefixed domain ‖ u32 len ‖ seed; the block number follows

	// cur is the newest block; its next channel closes when a newer one
	// is produced. Readers load it without the lock.
	cur atomic.Pointer[tip]
	// pending counts open streams that have not acknowledged the head
	// (lockstep only). Acknowledgements decrement it without the lock;
	// everything else changes it under mu.
	pending atomic.Int64

	runWG sync.WaitGroup
	done  chan struct{} // closed by Close

	mu        sync.Mutex
	closed    bool
	running   bool
	want      uint64 // blocks Advance asked for and not produced yet
	head      bistro.Block
	finalized []bistro.Block // finalized[n]: highest finalized block when n was produced
	lag       uint64
	stalled   bool
	streams   map[*stream]struct{}
	subnets   map[uint16]*subnet
	stakes    map[bistro.Hotkey][]stakePoint
	faults    map[Op][]error
}

var _ bistro.Chain = (*Local)(nil)

// tip is a produced block as streams see it.
type tip struct {
	head bistro.Head
	next chan struct{}
}

const hashDomain = "bistro/subtensor/local/block"

// NewLocal validates opts and returns a chain at block 0 with opts.Subnets
// created. In lockstep mode blocks come from Run, Step and Advance; in real
// time from Run.
func NewLocal(opts LocalOptions) (*Local, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == nil {
		seed = make([]byte, 32)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("subtensor: local chain seed: %w", err)
		}
	}
	genesis := opts.Genesis
	if genesis.IsZero() {
		genesis = opts.Clock.Now()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pre := make([]byte, 0, 1+len(hashDomain)+4+len(seed))
	pre = append(pre, byte(len(hashDomain)))
	pre = append(pre, hashDomain...)
	pre = binary.LittleEndian.AppendUint32(pre, uint32(len(seed)))
	pre = append(pre, seed...)

	l := &Local{
		lockstep:  !opts.RealTime,
		blockTime: opts.BlockTime,
		genesis:   genesis,
		verify:    opts.VerifySignatures,
		log:       logger,
		hashPre:   pre,
		done:      make(chan struct{}),
		finalized: []bistro.Block{0},
		lag:       opts.FinalityLag,
		streams:   make(map[*stream]struct{}),
		subnets:   make(map[uint16]*subnet),
		stakes:    make(map[bistro.Hotkey][]stakePoint),
		faults:    make(map[Op][]error),
	}
	for _, so := range opts.Subnets {
		l.subnets[so.Netuid] = newSubnet(so, 0)
	}
	l.cur.Store(&tip{head: l.headerLocked(0), next: make(chan struct{})})
	l.onInitialize(1)
	return l, nil
}

// BlockHash returns the hash block n has or will have: SHA-256 over the
// domain "bistro/subtensor/local/block", the seed and n.
func (l *Local) BlockHash(n bistro.Block) bistro.Hash {
	var buf [128]byte
	b := append(buf[:0], l.hashPre...)
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	return sha256.Sum256(b)
}

// Head returns the newest block.
func (l *Local) Head() bistro.Head { return l.cur.Load().head }

// Subscribe opens a stream that starts at the current head: its first Next
// returns the head at the time of Subscribe, then every later block in
// order. In lockstep mode the new stream holds the chain at that head until
// it acknowledges it; subscribe every participant before Run for a
// deterministic start.
func (l *Local) Subscribe(ctx context.Context) (bistro.BlockStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(OpSubscribe); err != nil {
		return nil, err
	}
	s := &stream{l: l, cursor: l.head, start: l.head, gone: make(chan struct{}), open: true}
	s.acked.Store(int64(l.head) - 1)
	l.streams[s] = struct{}{}
	if l.lockstep {
		l.pending.Add(1)
	}
	return s, nil
}

// FinalizedHash returns the hash of block n once n is finalized, and
// bistro.ErrNotFinalized (wrapped) before, including for blocks not yet
// produced.
func (l *Local) FinalizedHash(ctx context.Context, n bistro.Block) (bistro.Hash, error) {
	if err := ctx.Err(); err != nil {
		return bistro.Hash{}, err
	}
	l.mu.Lock()
	err := l.usable(OpFinalizedHash)
	fin := l.finalized[l.head]
	l.mu.Unlock()
	if err != nil {
		return bistro.Hash{}, err
	}
	if n > fin {
		return bistro.Hash{}, fmt.Errorf("subtensor: block %d: finalized head is %d: %w", n, fin, bistro.ErrNotFinalized)
	}
	return l.BlockHash(n), nil
}

// Run produces blocks until ctx ends or the chain is closed, then returns
// nil. In lockstep mode it produces block n+1 as soon as every open stream
// has acknowledged block n, and pauses while no stream is open; in real-time
// mode a time.Ticker of BlockTime drives it, stopped when Run returns. One
// Run at a time.
func (l *Local) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.running {
		l.mu.Unlock()
		return fmt.Errorf("subtensor: local chain: Run called while another Run is running")
	}
	l.running = true
	l.runWG.Add(1)
	defer l.runWG.Done()
	if l.lockstep {
		l.maybeProduce()
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()

	if l.lockstep {
		select {
		case <-ctx.Done():
		case <-l.done:
		}
		return nil
	}
	t := time.NewTicker(l.blockTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.done:
			return nil
		case <-t.C:
			l.mu.Lock()
			if !l.closed {
				l.produce()
			}
			l.mu.Unlock()
		}
	}
}

// Step produces one block and returns it; it is Advance(ctx, 1).
func (l *Local) Step(ctx context.Context) (bistro.Head, error) { return l.Advance(ctx, 1) }

// Advance produces n blocks and returns the head it reached. In lockstep
// mode each block waits, as under Run, for every open stream to acknowledge
// the one before, so it blocks while a stream is held by a goroutine that
// is not reading it (the caller's own included); with no stream open it
// returns at once. In real-time mode the blocks are produced at once, ahead
// of the ticker. On ctx's end, the blocks not produced yet are not.
func (l *Local) Advance(ctx context.Context, n uint64) (bistro.Head, error) {
	if err := ctx.Err(); err != nil {
		return bistro.Head{}, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return bistro.Head{}, ErrClosed
	}
	target := l.head + bistro.Block(n)
	if l.lockstep {
		l.want += n
		l.maybeProduce()
	} else {
		for range n {
			l.produce()
		}
	}
	l.mu.Unlock()
	for {
		t := l.cur.Load()
		if t.head.Number >= target {
			return t.head, nil
		}
		select {
		case <-t.next:
		case <-l.done:
			return bistro.Head{}, ErrClosed
		case <-ctx.Done():
			l.mu.Lock()
			if l.head < target {
				l.want -= min(l.want, uint64(target-l.head))
			}
			l.mu.Unlock()
			return bistro.Head{}, ctx.Err()
		}
	}
}

// Close stops Run (waiting for it to return, so a ticker is stopped), ends
// every stream with ErrClosed, and makes every later call return
// ErrClosed. It is idempotent.
func (l *Local) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		for s := range l.streams {
			l.endStream(s, ErrClosed)
		}
	}
	l.mu.Unlock()
	l.runWG.Wait()
	return nil
}

// usable returns ErrClosed or an injected fault for op. Called with mu held.
func (l *Local) usable(op Op) error {
	if l.closed {
		return ErrClosed
	}
	if q := l.faults[op]; len(q) > 0 {
		err := q[0]
		l.faults[op] = q[1:]
		return err
	}
	return nil
}

// maybeProduce produces blocks while every open stream has acknowledged the
// head and someone wants a block: Advance's count, or Run while at least
// one stream is open. Lockstep only; called with mu held.
func (l *Local) maybeProduce() {
	for !l.closed && l.pending.Load() == 0 {
		switch {
		case l.want > 0:
			l.want--
		case l.running && len(l.streams) > 0:
		default:
			return
		}
		l.produce()
	}
}

// produce makes block head+1, then runs the on_initialize of the block
// after it, so that transactions submitted from now on, which that block
// will include, come after its epoch as they do on Subtensor. Called with
// mu held.
func (l *Local) produce() {
	n := l.head + 1
	fin := l.finalized[l.head]
	if !l.stalled && uint64(n) > l.lag {
		fin = max(fin, n-bistro.Block(l.lag))
	}
	l.finalized = append(l.finalized, fin)
	l.head = n
	l.onInitialize(n + 1)
	if l.lockstep {
		// Before publishing: a stream may see the new head and acknowledge
		// it at once.
		l.pending.Store(int64(len(l.streams)))
	}
	old := l.cur.Load()
	l.cur.Store(&tip{head: l.headerLocked(n), next: make(chan struct{})})
	close(old.next)
}

// onInitialize runs what Subtensor runs at the start of block m: the epoch
// of every subnet whose tempo has come. Called with mu held.
func (l *Local) onInitialize(m bistro.Block) {
	for _, sn := range l.subnets {
		if sn.opts.Tempo > 0 && uint64(m-sn.lastEpoch) >= sn.opts.Tempo {
			l.epoch(sn, m)
		}
	}
}

// headerLocked returns block n's head; n ≤ head. Called with mu held.
func (l *Local) headerLocked(n bistro.Block) bistro.Head {
	return bistro.Head{
		Number:    n,
		Hash:      l.BlockHash(n),
		Time:      l.genesis.Add(time.Duration(n) * l.blockTime),
		Finalized: l.finalized[n],
	}
}

// endStream ends s with err and stops counting it. It does not produce: the
// caller calls maybeProduce once it is done. Called with mu held.
func (l *Local) endStream(s *stream, err error) {
	if !s.open {
		return
	}
	s.open = false
	s.err = err
	close(s.gone)
	delete(l.streams, s)
	// Swap against Next's CAS: exactly one of them takes the stream out of
	// pending.
	old := s.acked.Swap(math.MaxInt64)
	if l.lockstep && old < int64(l.head) {
		l.pending.Add(-1)
	}
}

// stream is a BlockStream of a Local.
type stream struct {
	l *Local
	// cursor is the next block Next returns, start the first; both belong
	// to the goroutine that calls Next.
	cursor, start bistro.Block
	// acked is the highest block acknowledged, math.MaxInt64 once ended.
	acked atomic.Int64
	gone  chan struct{} // closed when the stream ends
	err   error         // why it ended; written before gone is closed
	open  bool          // under l.mu
}

// Next acknowledges the head returned before, then returns the next one,
// waiting for it to be produced.
func (s *stream) Next(ctx context.Context) (bistro.Head, error) {
	select {
	case <-s.gone:
		return bistro.Head{}, s.err
	default:
	}
	if s.cursor > s.start {
		s.ack(int64(s.cursor) - 1)
	}
	for {
		t := s.l.cur.Load()
		switch {
		case s.cursor == t.head.Number:
			s.cursor++
			return t.head, nil
		case s.cursor < t.head.Number:
			// Behind the head: real-time mode, where the chain does not
			// wait. Older heads come from the history.
			s.l.mu.Lock()
			h := s.l.headerLocked(s.cursor)
			s.l.mu.Unlock()
			s.cursor++
			return h, nil
		}
		select {
		case <-t.next:
		case <-s.gone:
			return bistro.Head{}, s.err
		case <-ctx.Done():
			return bistro.Head{}, ctx.Err()
		}
	}
}

// ack acknowledges block b. In lockstep a stream that has not acknowledged
// the head holds the chain there, so b is the head and the head cannot move
// before this stream leaves pending.
func (s *stream) ack(b int64) {
	var old int64
	for {
		old = s.acked.Load()
		if old >= b {
			return
		}
		if s.acked.CompareAndSwap(old, b) {
			break
		}
	}
	l := s.l
	if !l.lockstep {
		return
	}
	h := int64(l.cur.Load().head.Number)
	if old < h && b >= h && l.pending.Add(-1) == 0 {
		l.mu.Lock()
		l.maybeProduce()
		l.mu.Unlock()
	}
}

// Close ends the stream; a lockstep chain stops waiting for it. Next then
// returns ErrClosed.
func (s *stream) Close() error {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.open {
		l.endStream(s, ErrClosed)
		if l.lockstep {
			l.maybeProduce()
		}
	}
	return nil
}
