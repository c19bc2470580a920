package bistro

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"

	"github.com/bistro-go/bistro/internal/atomicfile"
)

// UniformSampler is the default Sampler: uniform over the candidates,
// never-evaluated ones first. Each call draws a fresh 32-byte seed from
// crypto/rand, so miners cannot predict whether they will be checked;
// NewSeededSampler makes it reproducible for tests.
type UniformSampler struct {
	seed *Hash // nil: crypto/rand per call
}

var (
	_ Sampler          = (*UniformSampler)(nil)
	_ InclusionSampler = (*UniformSampler)(nil)
)

// NewSampler returns a sampler drawing from crypto/rand.
func NewSampler() *UniformSampler { return &UniformSampler{} }

// NewSeededSampler returns a reproducible sampler (tests and simulations).
// Each window's draw derives from the seed and the window alone, so two runs
// of a simulation that differ in one window (a fault) draw the same samples in
// every other window.
func NewSeededSampler(seed Hash) *UniformSampler { return &UniformSampler{seed: &seed} }

// Inclusion returns the probability Sample gives each candidate: a
// never-evaluated one is drawn with probability min(1, n/|fresh|), an
// evaluated one with (n − |fresh|)/|evaluated| when slots remain (reported
// as n/|candidates| when none do: it cannot be drawn, so no credit rests on
// it).
func (s *UniformSampler) Inclusion(candidates []UID, evaluated func(UID) bool, n int) map[UID]float64 {
	var fresh, seen int
	for _, u := range candidates {
		if evaluated != nil && evaluated(u) {
			seen++
		} else {
			fresh++
		}
	}
	nominal := min(1, float64(max(n, 1))/float64(max(len(candidates), 1)))
	pf, ps := nominal, nominal
	if fresh > 0 {
		pf = min(1, float64(n)/float64(fresh))
	}
	if left := n - fresh; left > 0 && seen > 0 {
		ps = min(1, float64(left)/float64(seen))
	}
	out := make(map[UID]float64, len(candidates))
	for _, u := range candidates {
		if evaluated != nil && evaluated(u) {
			out[u] = ps
		} else {
			out[u] = pf
		}
	}
	return out
}

// Sample returns up to n distinct uids, never-evaluated first, each group in
// uniformly random order.
func (s *UniformSampler) Sample(window uint64, candidates []UID, evaluated func(UID) bool, n int) []UID {
	var seed Hash
	if s.seed != nil {
		h := newHasher("bistro/sampler")
		h.raw(s.seed[:])
		h.u64(window)
		seed = h.sum()
	} else if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
		panic("bistro: crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing is safe
	}
	r := NewRand(seed)
	var fresh, seen []UID
	for _, u := range candidates {
		if evaluated != nil && evaluated(u) {
			seen = append(seen, u)
		} else {
			fresh = append(fresh, u)
		}
	}
	shuffle(r, fresh)
	shuffle(r, seen)
	out := append(fresh, seen...)
	if n < len(out) {
		out = out[:max(n, 0)]
	}
	return out
}

func shuffle(r *Rand, v []UID) {
	for i := len(v) - 1; i > 0; i-- {
		j := r.Below(uint64(i + 1))
		v[i], v[j] = v[j], v[i]
	}
}

// MovingAverage is the default Ledger: an exponential moving average of each
// uid's scores, α per evaluation. The first evaluation sets the average;
// windows where a uid is not evaluated leave it unchanged; a Slash resets it
// to 0; a new hotkey on a uid starts it afresh. It is safe for concurrent use
// and persists atomically with Save.
type MovingAverage struct {
	mu      sync.Mutex
	alpha   float64
	entries map[UID]*LedgerEntry
}

// LedgerEntry is one uid's record.
type LedgerEntry struct {
	Hotkey      Hotkey  `json:"hotkey"`
	Average     float64 `json:"average"`
	Evaluations int     `json:"evaluations"`
	Passes      int     `json:"passes"`
	Slashes     int     `json:"slashes"`
	LastWindow  uint64  `json:"last_window"`
	LastReason  string  `json:"last_reason,omitempty"`
	// VerifiedWork's bookkeeping: failures when sampled, the window from
	// which a probation ends, the credit earned over the uid's life, and
	// the last inclusion probability and sampling interval, and how many
	// times the uid was drawn for recomputation.
	Fails          int       `json:"fails,omitempty"`
	ProbationUntil uint64    `json:"probation_until,omitempty"`
	Credit         float64   `json:"credit,omitempty"`
	Forfeited      float64   `json:"forfeited,omitempty"`
	Unvested       []Vesting `json:"unvested,omitempty"`
	Inclusion      float64   `json:"inclusion,omitempty"`
	Interval       float64   `json:"interval,omitempty"`
	Sampled        int       `json:"sampled,omitempty"`
}

// Vesting is credit that is paid from Window on, unless forfeited first.
type Vesting struct {
	Window uint64  `json:"window"`
	Credit float64 `json:"credit"`
}

var _ Ledger = (*MovingAverage)(nil)

// NewMovingAverage returns an empty ledger with smoothing alpha in (0, 1].
func NewMovingAverage(alpha float64) (*MovingAverage, error) {
	if !(alpha > 0 && alpha <= 1) {
		return nil, fmt.Errorf("bistro: ledger alpha %v not in (0, 1]", alpha)
	}
	return &MovingAverage{alpha: alpha, entries: map[UID]*LedgerEntry{}}, nil
}

// Record adds one evaluation.
func (l *MovingAverage) Record(window uint64, uid UID, hotkey Hotkey, s Score) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	if e == nil || e.Hotkey != hotkey {
		e = &LedgerEntry{Hotkey: hotkey}
		l.entries[uid] = e
	}
	v := s.Value
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	switch {
	case s.Verdict == Slash:
		e.Average = 0
		e.Slashes++
	case e.Evaluations == 0:
		e.Average = v
	default:
		e.Average = (1-l.alpha)*e.Average + l.alpha*v
	}
	if s.Verdict == Pass {
		e.Passes++
	}
	e.Evaluations++
	e.LastWindow = window
	e.LastReason = s.Reason
}

// Evaluated reports whether uid has an evaluation.
func (l *MovingAverage) Evaluated(uid UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	return e != nil && e.Evaluations > 0
}

// Eligible reports whether uid passed an evaluation and was never slashed.
func (l *MovingAverage) Eligible(uid UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	return e != nil && e.Passes > 0 && e.Slashes == 0
}

// Entry returns a copy of uid's record.
func (l *MovingAverage) Entry(uid UID) (LedgerEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	if e == nil {
		return LedgerEntry{}, false
	}
	return *e, true
}

// Forget drops uid (deregistered).
func (l *MovingAverage) Forget(uid UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, uid)
}

// Weights returns the u16 weights of the evaluated uids with a positive
// average (see U16Weights).
func (l *MovingAverage) Weights() ([]UID, []uint16) {
	l.mu.Lock()
	uids := make([]UID, 0, len(l.entries))
	vals := make([]float64, 0, len(l.entries))
	for u, e := range l.entries {
		if e.Evaluations > 0 {
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	for _, u := range uids {
		vals = append(vals, l.entries[u].Average)
	}
	l.mu.Unlock()
	return U16Weights(uids, vals)
}

// U16Weights converts scores to the u16 weights Subtensor's set_weights
// takes, as the bittensor SDK does: negative and non-finite scores count as
// 0; each is divided by the maximum and scaled to 65535, rounded half away
// from zero; zero weights are dropped. All zero gives no weights.
func U16Weights(uids []UID, scores []float64) ([]UID, []uint16) {
	mx := 0.0
	for _, s := range scores {
		if s > mx && !math.IsInf(s, 1) {
			mx = s
		}
	}
	if mx <= 0 {
		return nil, nil
	}
	var ou []UID
	var ow []uint16
	for i, s := range scores {
		if !(s > 0) || math.IsInf(s, 1) {
			continue
		}
		w := uint16(math.Round(s / mx * math.MaxUint16))
		if w == 0 {
			continue
		}
		ou = append(ou, uids[i])
		ow = append(ow, w)
	}
	return ou, ow
}

type ledgerFile struct {
	Version int                  `json:"version"`
	Alpha   float64              `json:"alpha"`
	Entries map[UID]*LedgerEntry `json:"entries"`
}

// ErrCorruptLedger is returned when a ledger file cannot be decoded.
var ErrCorruptLedger = errors.New("bistro: corrupt ledger file")

// Save writes the ledger atomically: a temporary file in the same directory,
// fsync, rename over path, fsync of the directory. A crash at any point
// leaves either the old file or the new one.
func (l *MovingAverage) Save(path string) error {
	l.mu.Lock()
	b, err := json.MarshalIndent(ledgerFile{Version: 1, Alpha: l.alpha, Entries: l.entries}, "", " ")
	l.mu.Unlock()
	return writeLedger(path, b, err)
}

// writeLedger writes a marshalled ledger atomically.
func writeLedger(path string, b []byte, err error) error {
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}

// readLedger returns a ledger file's bytes, nil when there is none.
func readLedger(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// LoadMovingAverage reads a ledger saved by Save. A missing file gives an
// empty ledger with alpha.
func LoadMovingAverage(path string, alpha float64) (*MovingAverage, error) {
	l, err := NewMovingAverage(alpha)
	if err != nil {
		return nil, err
	}
	b, err := readLedger(path)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return l, nil
	}
	var f ledgerFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptLedger, path, err)
	}
	for u, e := range f.Entries {
		if e == nil || math.IsNaN(e.Average) || math.IsInf(e.Average, 0) || e.Evaluations < 0 {
			return nil, fmt.Errorf("%w: %s: bad entry for uid %d", ErrCorruptLedger, path, u)
		}
		l.entries[u] = e
	}
	return l, nil
}
