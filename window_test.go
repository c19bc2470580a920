package bistro

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindows(t *testing.T) {
	ws := Windows{Blocks: 10, Grace: 3}
	cases := []struct {
		block Block
		win   uint64
	}{{0, 0}, {9, 0}, {10, 1}, {19, 1}, {20, 2}, {math.MaxUint64, math.MaxUint64 / 10}}
	for _, c := range cases {
		assert.Equal(t, c.win, ws.Of(c.block), "block %d", c.block)
	}
	s, err := ws.Start(0)
	require.NoError(t, err)
	assert.Equal(t, Block(0), s)
	s, err = ws.Start(3)
	require.NoError(t, err)
	assert.Equal(t, Block(30), s)
	seed, err := ws.SeedBlock(3)
	require.NoError(t, err)
	assert.Equal(t, Block(40), seed)
	dl, err := ws.Deadline(3)
	require.NoError(t, err)
	assert.Equal(t, Block(43), dl)
	assert.Equal(t, uint64(4), ws.Of(seed), "the seed block is the first of the next window")
	assert.Equal(t, uint64(4), ws.Of(dl), "the deadline is within the next window")

	_, ok := ws.LastApplied(0)
	assert.False(t, ok)
	_, ok = ws.LastApplied(1)
	assert.False(t, ok)
	la, ok := ws.LastApplied(2)
	assert.True(t, ok)
	assert.Equal(t, uint64(0), la)
	la, ok = ws.LastApplied(math.MaxUint64)
	assert.True(t, ok)
	assert.Equal(t, uint64(math.MaxUint64-2), la)
}

func TestWindowsNear2To64(t *testing.T) {
	ws := Windows{Blocks: 10, Grace: 3}
	last := uint64(math.MaxUint64 / 10) // the last window whose start fits
	s, err := ws.Start(last)
	require.NoError(t, err)
	assert.Equal(t, Block(last*10), s)
	assert.Equal(t, last, ws.Of(s))
	_, err = ws.Start(last + 1)
	assert.ErrorIs(t, err, ErrOverflow)
	_, err = ws.SeedBlock(last)
	assert.ErrorIs(t, err, ErrOverflow, "(last+1)·10 > 2^64−1")
	_, err = ws.SeedBlock(math.MaxUint64)
	assert.ErrorIs(t, err, ErrOverflow)
	seed, err := ws.SeedBlock(last - 1)
	require.NoError(t, err)
	assert.Equal(t, Block(last*10), seed)
	dl, err := ws.Deadline(last - 1)
	require.NoError(t, err)
	assert.Equal(t, Block(last*10+3), dl)

	// A grace that overflows past the seed block.
	wg := Windows{Blocks: 1 << 32, Grace: 1<<32 - 1}
	w := uint64(1<<32 - 2) // seed block (2^32−1)·2^32 = 2^64 − 2^32
	seed, err = wg.SeedBlock(w)
	require.NoError(t, err)
	dl, err = wg.Deadline(w)
	require.NoError(t, err)
	assert.Equal(t, seed+Block(wg.Grace), dl)
	assert.Equal(t, Block(math.MaxUint64), dl)
	wg.Grace = 1 << 32 // invalid as Params, but the arithmetic must not wrap
	_, err = wg.Deadline(w)
	assert.ErrorIs(t, err, ErrOverflow)
}

func TestNewWindows(t *testing.T) {
	p := testParams()
	w, err := NewWindows(&p)
	require.NoError(t, err)
	assert.Equal(t, Windows{Blocks: 10, Grace: 3}, w)
	p.Strategies.Window = WindowV1
	p.FirstWindow = 7
	w, err = NewWindows(&p)
	require.NoError(t, err)
	_, ok := w.LastApplied(8)
	assert.False(t, ok, "base(8) is θ₀ when the network starts at window 7")
	la, ok := w.LastApplied(9)
	assert.True(t, ok)
	assert.Equal(t, uint64(7), la)
	p.Strategies.Window = "window/v2"
	_, err = NewWindows(&p)
	assert.Error(t, err)
}

func TestRankDeadline(t *testing.T) {
	const top = math.MaxUint64
	last := uint64(top/10 - 1) // the last window whose deadline fits with B = 10, G = 3
	cases := []struct {
		name      string
		b, g, fd  uint64
		w, rank   uint64
		want      Block
		overflows bool
	}{
		{"lead", 10, 3, 4, 0, 0, 17, false},
		{"rank 1", 10, 3, 4, 0, 1, 21, false},
		{"rank 2 of window 5", 10, 3, 4, 5, 2, 75, false},
		{"fits exactly", 10, 3, 2, last, 0, Block(top), false},
		{"one past", 10, 3, 2, last, 1, 0, true},
		{"deadline overflows", 10, 3, 1, last + 1, 0, 0, true},
		{"rank+1 past 2^64", 10, 3, 1, 0, top, 0, true},
		{"product past 2^64", 10, 3, 4, 0, 1 << 62, 0, true},
		{"largest product", 10, 3, 1, 0, top - 14, Block(top), false},
		{"B = 2^32", 1 << 32, 1<<32 - 1, 1, 1, 0, Block(2<<32 + 1<<32), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testParams()
			p.BlocksPerWindow, p.Grace, p.FailoverDelay = c.b, c.g, c.fd
			got, err := p.RankDeadline(c.w, c.rank)
			if c.overflows {
				assert.ErrorIs(t, err, ErrOverflow)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}

	p := testParams()
	p.Strategies.Window = "window/v2"
	_, err := p.RankDeadline(0, 0)
	assert.Error(t, err, "an unknown window strategy")
}
