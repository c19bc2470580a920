package bistro

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrOverflow is returned when a window's blocks do not fit in a uint64.
var ErrOverflow = errors.New("bistro: block number overflows uint64")

// Window maps blocks to windows and names the blocks that matter in a window's
// life. Implementations are pure functions of their constants: every
// participant must get the same answers. Methods that compute a block return
// ErrOverflow rather than wrap around.
type Window interface {
	// Of returns the window that contains block b.
	Of(b Block) uint64
	// Start returns the first block of window w.
	Start(w uint64) (Block, error)
	// SeedBlock returns the block whose hash, once finalized, seeds the slice
	// selection of window w: the first block of window w+1.
	SeedBlock(w uint64) (Block, error)
	// Deadline returns the block at whose finalization the slices of window w
	// must be present: SeedBlock(w) + grace.
	Deadline(w uint64) (Block, error)
	// LastApplied returns the last window whose aggregate is in base(w), and
	// false when base(w) is the genesis. Under the one-window pipeline
	// base(w) = genesis + aggregates of windows first … w−2.
	LastApplied(w uint64) (uint64, bool)
}

// Windows is the default Window (WindowV1): window = block / B, seed block
// (w+1)·B, deadline (w+1)·B + G, base(w) = genesis + aggregates of windows
// First … w−2.
type Windows struct {
	Blocks uint64 // B, > 0
	Grace  uint64 // G, < B
	First  uint64 // the network's first window
}

var _ Window = Windows{}

// NewWindows returns the Window for p's strategy.
func NewWindows(p *Params) (Window, error) {
	if p.Strategies.Window != WindowV1 {
		return nil, fmt.Errorf("bistro: window strategy %q unknown", p.Strategies.Window)
	}
	if p.BlocksPerWindow == 0 || p.Grace >= p.BlocksPerWindow {
		return nil, fmt.Errorf("%w: blocks_per_window %d, grace %d", ErrInvalidParams, p.BlocksPerWindow, p.Grace)
	}
	return Windows{Blocks: p.BlocksPerWindow, Grace: p.Grace, First: p.FirstWindow}, nil
}

// RankDeadline returns the block whose finalization ends publishing turn
// `rank` of window w (turn t belongs to rank t mod R; turn 0 is the lead's):
// Deadline(w) + (rank+1)·FailoverDelay, with Deadline from p's window
// strategy (SPEC.md §2.3, §9.1). The next turn's rank publishes only once
// this block is finalized and no aggregate was published. A block past the
// u64 range is an error wrapping ErrOverflow.
func (p *Params) RankDeadline(w, rank uint64) (Block, error) {
	ws, err := NewWindows(p)
	if err != nil {
		return 0, err
	}
	d, err := ws.Deadline(w)
	if err != nil {
		return 0, err
	}
	// (rank+1)·FailoverDelay + d, in 128 bits: rank+1 itself may not fit.
	hi, lo := bits.Mul64(rank, p.FailoverDelay)
	lo, c := bits.Add64(lo, p.FailoverDelay, 0)
	hi += c
	lo, c = bits.Add64(lo, uint64(d), 0)
	if hi != 0 || c != 0 {
		return 0, fmt.Errorf("%w: deadline of rank %d in window %d", ErrOverflow, rank, w)
	}
	return Block(lo), nil
}

// Of returns b / B.
func (ws Windows) Of(b Block) uint64 {
	if ws.Blocks == 0 {
		return 0
	}
	return uint64(b) / ws.Blocks
}

// Start returns w·B.
func (ws Windows) Start(w uint64) (Block, error) { return ws.mul(w) }

// SeedBlock returns (w+1)·B.
func (ws Windows) SeedBlock(w uint64) (Block, error) {
	if w == ^uint64(0) {
		return 0, fmt.Errorf("%w: seed block of window %d", ErrOverflow, w)
	}
	return ws.mul(w + 1)
}

// Deadline returns (w+1)·B + G.
func (ws Windows) Deadline(w uint64) (Block, error) {
	s, err := ws.SeedBlock(w)
	if err != nil {
		return 0, err
	}
	if uint64(s) > ^uint64(0)-ws.Grace {
		return 0, fmt.Errorf("%w: deadline of window %d", ErrOverflow, w)
	}
	return s + Block(ws.Grace), nil
}

// LastApplied returns w−2, false when w−2 < First (or w < 2).
func (ws Windows) LastApplied(w uint64) (uint64, bool) {
	if w < 2 || w-2 < ws.First {
		return 0, false
	}
	return w - 2, true
}

func (ws Windows) mul(w uint64) (Block, error) {
	if ws.Blocks != 0 && w > ^uint64(0)/ws.Blocks {
		return 0, fmt.Errorf("%w: window %d × %d blocks", ErrOverflow, w, ws.Blocks)
	}
	return Block(w * ws.Blocks), nil
}
