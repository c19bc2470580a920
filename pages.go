package bistro

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Rand is the protocol's portable generator (SPEC.md §1.3): xoshiro256**
// seeded with the four little-endian words of a Hash. It is not a source of
// secrets; it expands a seed that is already unpredictable (a block hash, or a
// hash of public inputs) into a reproducible stream that any language can
// recompute. The zero value is not usable; use NewRand.
type Rand struct{ s [4]uint64 }

// NewRand seeds the generator with the words of seed; an all-zero seed (which
// would be a fixed point) becomes s[0] = 1.
func NewRand(seed Hash) *Rand {
	r := &Rand{}
	for i := range r.s {
		r.s[i] = binary.LittleEndian.Uint64(seed[8*i:])
	}
	if r.s == [4]uint64{} {
		r.s[0] = 1
	}
	return r
}

// Uint64 returns the next value of the stream.
func (r *Rand) Uint64() uint64 {
	s := &r.s
	out := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return out
}

// Below returns a uniform value in [0, n) by rejection: values at or above the
// largest multiple of n that fits in 2^64 are drawn again. Below(0) is 0 and
// draws nothing.
func (r *Rand) Below(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	if n&(n-1) == 0 { // a power of two: every value is accepted
		return r.Uint64() & (n - 1)
	}
	limit := -(-n % n) // 2^64 − (2^64 mod n): the largest multiple of n, mod 2^64
	for {
		if x := r.Uint64(); x < limit {
			return x % n
		}
	}
}

// MaxPagesPerWindow bounds how many pages an assigner hands out for one
// miner and window.
const MaxPagesPerWindow = 1 << 16

// ErrTooManyPages is returned when more pages are asked for than the dataset
// or MaxPagesPerWindow allows.
var ErrTooManyPages = errors.New("bistro: too many pages asked for")

// PageAssigner decides which dataset pages a miner trains on in a window.
// Implementations are pure functions of their inputs: a validator recomputes
// the same ids to check the miner. The result holds n distinct ids in
// [0, total), in the order the miner must use them.
type PageAssigner interface {
	Assign(window uint64, hotkey Hotkey, n int, total uint64) ([]uint64, error)
}

// Pages is the default PageAssigner (PagesV1): ids drawn by Rand seeded with
// H("bistro/pages", netuid u16, window u64, hotkey), duplicates skipped, in
// draw order.
type Pages struct {
	NetUID uint16
}

var _ PageAssigner = Pages{}

// NewPages returns the PageAssigner for p's strategy.
func NewPages(p *Params) (PageAssigner, error) {
	if p.Strategies.Pages != PagesV1 {
		return nil, fmt.Errorf("bistro: pages strategy %q unknown", p.Strategies.Pages)
	}
	return Pages{NetUID: p.NetUID}, nil
}

// PageSeed returns H("bistro/pages", netuid, window, hotkey).
func PageSeed(netuid uint16, window uint64, hotkey Hotkey) Hash {
	h := newHasher("bistro/pages")
	h.u16(netuid)
	h.u64(window)
	h.raw(hotkey[:])
	return h.sum()
}

// Assign returns n distinct page ids in [0, total).
func (pa Pages) Assign(window uint64, hotkey Hotkey, n int, total uint64) ([]uint64, error) {
	if n < 0 || n > MaxPagesPerWindow || uint64(n) > total {
		return nil, fmt.Errorf("%w: %d pages of %d (limit %d)", ErrTooManyPages, n, total, MaxPagesPerWindow)
	}
	r := NewRand(PageSeed(pa.NetUID, window, hotkey))
	ids := make([]uint64, 0, n)
	seen := make(map[uint64]struct{}, n)
	for len(ids) < n {
		id := r.Below(total)
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		ids = append(ids, id)
	}
	return ids, nil
}

// ErrNoPage is returned by a Dataset for a page id it does not have.
var ErrNoPage = errors.New("bistro: no such page")

// Dataset maps page ids to token runs. A Dataset is pinned by its Digest,
// which Params names; the same id must always give the same tokens.
// Implementations must be safe for concurrent use.
type Dataset interface {
	// Digest is the SHA-256 of the dataset manifest (SPEC.md §4.2).
	Digest() Hash
	// Pages is the number of training pages: ids 0 … Pages()−1.
	Pages() uint64
	// PageLength is the number of tokens in every page.
	PageLength() int
	// Page appends the tokens of page id to dst[:0] and returns it; an id
	// out of range gives ErrNoPage.
	Page(ctx context.Context, id uint64, dst []int32) ([]int32, error)
}
