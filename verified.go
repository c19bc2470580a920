package bistro

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
)

// WindowMiner is one miner of a closed window.
type WindowMiner struct {
	UID    UID
	Hotkey Hotkey
	// Inclusion is the probability the validator had of recomputing this
	// miner's slice in the window (1 for a first evaluation): a pass earns
	// 1/Inclusion.
	Inclusion float64
	// Sampled says the validator drew this miner for recomputation this
	// window (whatever it found): a drawn miner is no longer a first
	// evaluation.
	Sampled bool
	// Interval is the expected number of windows between two recomputations
	// of a miner once every miner was evaluated (miners / sample size, ≥ 1):
	// vesting and probation are counted in it.
	Interval float64
}

// VerifiedWorkOptions are VerifiedWork's constants.
type VerifiedWorkOptions struct {
	// Alpha is the per-window smoothing of a miner's pay rate, in (0, 1]:
	// every window, rate ← (1−α)·rate + α·(credit vested that window).
	Alpha float64
	// Vesting is how long credit waits before it is paid, in sampling
	// intervals I (WindowMiner.Interval): credit earned in window w vests at
	// the miner's first passed evaluation in window w + ⌈Vesting·I⌉ or later
	// — the miner proves it still works — unless a failure forfeits it
	// first.
	Vesting float64
	// Probation is how long a failed miner earns nothing, in sampling
	// intervals: ⌈Probation·I⌉ windows (twice as long after a slash).
	Probation float64
}

// DefaultVerifiedWorkOptions returns α = 0.1, a vesting delay of 3 sampling
// intervals and a probation of 4.
func DefaultVerifiedWorkOptions() VerifiedWorkOptions {
	return VerifiedWorkOptions{Alpha: 0.1, Vesting: 3, Probation: 4}
}

// VerifiedWork is the default Ledger: it pays only for verified work
// (SPEC.md §11). Every window counts for every miner present: a recomputed
// slice that passes earns credit 1/p — p the probability the validator had
// of recomputing it, so that an honest miner earns 1 per window in
// expectation whatever the network's size — and every other window earns 0.
// I is the sampling interval, miners / sample size.
// Credit vests at the miner's first pass ⌈Vesting·I⌉ windows or more later:
// a miner is paid for work only once it proved, that much later, that it
// still works. The pay rate (the weights) is a moving average of the credit
// vested each window, so pay not backed by new verified work decays as fast
// as anyone's. A failure or slash when sampled forfeits everything not yet
// paid — the unvested credit and the rate — and starts a probation of
// ⌈Probation·I⌉ windows (doubled for a slash) during which the miner earns
// nothing and its slices are not merged. A worker that stops working never
// vests its last ⌈Vesting·I⌉ windows of credit. A new hotkey on a uid starts afresh. It is safe
// for concurrent use and persists atomically with Save.
type VerifiedWork struct {
	mu      sync.Mutex
	opt     VerifiedWorkOptions
	entries map[UID]*LedgerEntry
	pending map[UID]Score // this window's recorded evaluations
	closed  uint64        // the last window closed, +1 (0: none)
}

var (
	_ WindowLedger = (*VerifiedWork)(nil)
	_ LedgerSaver  = (*VerifiedWork)(nil)
)

// NewVerifiedWork returns an empty ledger.
func NewVerifiedWork(opt VerifiedWorkOptions) (*VerifiedWork, error) {
	if !(opt.Alpha > 0 && opt.Alpha <= 1) {
		return nil, fmt.Errorf("bistro: ledger alpha %v not in (0, 1]", opt.Alpha)
	}
	if !(opt.Probation >= 0) || math.IsInf(opt.Probation, 0) || opt.Probation > 1e6 {
		return nil, fmt.Errorf("bistro: ledger probation %v not in [0, 1e6]", opt.Probation)
	}
	if !(opt.Vesting >= 0) || math.IsInf(opt.Vesting, 0) || opt.Vesting > 1e6 {
		return nil, fmt.Errorf("bistro: ledger vesting %v not in [0, 1e6]", opt.Vesting)
	}
	return &VerifiedWork{opt: opt, entries: map[UID]*LedgerEntry{}, pending: map[UID]Score{}}, nil
}

// Record adds one evaluation of window w, applied when the window closes. A
// later evaluation of the same uid in the same window replaces a pass, never
// a failure; a Slash of an earlier window (proof that arrives late) forfeits
// at once.
func (l *VerifiedWork) Record(w uint64, uid UID, hotkey Hotkey, s Score) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(uid, hotkey)
	e.Evaluations++
	e.LastWindow, e.LastReason = w, s.Reason
	if w+1 <= l.closed {
		// The window is closed: only a late proof still counts.
		if s.Verdict == Slash {
			l.punish(e, w, e.Interval, true)
		}
		return
	}
	if old, ok := l.pending[uid]; ok && old.Verdict != Pass {
		return
	}
	l.pending[uid] = s
}

func (l *VerifiedWork) entry(uid UID, hotkey Hotkey) *LedgerEntry {
	e := l.entries[uid]
	if e == nil || e.Hotkey != hotkey {
		e = &LedgerEntry{Hotkey: hotkey}
		l.entries[uid] = e
		delete(l.pending, uid)
	}
	return e
}

// punish forfeits e's unpaid credit and rate and starts a probation after
// window w, interval the sampling interval.
func (l *VerifiedWork) punish(e *LedgerEntry, w uint64, interval float64, slash bool) {
	for _, v := range e.Unvested {
		e.Forfeited += v.Credit
	}
	e.Unvested = nil
	e.Average = 0
	n := math.Ceil(l.opt.Probation * interval)
	if slash {
		e.Slashes++
		n *= 2
	} else {
		e.Fails++
	}
	until := w + 1 + uint64(min(n, 1<<20))
	e.ProbationUntil = max(e.ProbationUntil, until)
}

// vest releases e's credit due by window w (at a pass in w).
func vest(e *LedgerEntry, w uint64) float64 {
	sum := 0.0
	keep := e.Unvested[:0]
	for _, v := range e.Unvested {
		if v.Window <= w {
			sum += v.Credit
		} else {
			keep = append(keep, v)
		}
	}
	if len(keep) == 0 {
		keep = nil
	}
	e.Unvested = keep
	return sum
}

// CloseWindow applies window w's evaluations — a pass vests the credit due
// and adds its own to vest later, a failure forfeits — and moves every
// miner's rate: rate ← (1−α)·rate + α·vested.
func (l *VerifiedWork) CloseWindow(w uint64, miners []WindowMiner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w+1 <= l.closed {
		return
	}
	l.closed = w + 1
	vested := map[UID]float64{}
	for _, m := range miners {
		e := l.entry(m.UID, m.Hotkey)
		p := m.Inclusion
		if !(p > 0 && p <= 1) {
			p = 1
		}
		iv := m.Interval
		if !(iv >= 1) || math.IsInf(iv, 0) {
			iv = 1 / p
		}
		e.Inclusion, e.Interval = p, iv
		if m.Sampled {
			e.Sampled++
		}
		if s, ok := l.pending[m.UID]; ok {
			switch s.Verdict {
			case Pass:
				e.Passes++
				if w >= e.ProbationUntil {
					vested[m.UID] = vest(e, w)
					delay := uint64(min(math.Ceil(l.opt.Vesting*iv), 1<<20))
					e.Unvested = append(e.Unvested, Vesting{Window: w + delay, Credit: 1 / p})
				}
			case Slash:
				l.punish(e, w, iv, true)
			default:
				l.punish(e, w, iv, false)
			}
		}
	}
	for u, e := range l.entries {
		v := vested[u]
		e.Average = (1-l.opt.Alpha)*e.Average + l.opt.Alpha*v
		e.Credit += v
	}
	clear(l.pending)
}

// Evaluated reports whether uid was ever drawn for recomputation or has an
// evaluation.
func (l *VerifiedWork) Evaluated(uid UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	return e != nil && (e.Evaluations > 0 || e.Sampled > 0)
}

// Eligible reports whether the lead may merge uid's slices: it passed an
// evaluation and is not on probation.
func (l *VerifiedWork) Eligible(uid UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	return e != nil && e.Passes > 0 && l.closed >= e.ProbationUntil
}

// Entry returns a copy of uid's record; Average is its pay rate.
func (l *VerifiedWork) Entry(uid UID) (LedgerEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[uid]
	if e == nil {
		return LedgerEntry{}, false
	}
	return *e, true
}

// Weights returns the u16 weights of the uids with a positive rate (see
// U16Weights).
func (l *VerifiedWork) Weights() ([]UID, []uint16) {
	l.mu.Lock()
	uids := make([]UID, 0, len(l.entries))
	for u, e := range l.entries {
		if e.Average > 0 {
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	vals := make([]float64, len(uids))
	for i, u := range uids {
		vals[i] = l.entries[u].Average
	}
	l.mu.Unlock()
	return U16Weights(uids, vals)
}

type verifiedFile struct {
	Version int                  `json:"version"`
	Rule    string               `json:"rule"`
	Options VerifiedWorkOptions  `json:"options"`
	Closed  uint64               `json:"closed"`
	Entries map[UID]*LedgerEntry `json:"entries"`
}

// Save writes the ledger atomically (see MovingAverage.Save). Evaluations of
// a window not yet closed are not saved: a validator closes every window it
// records before it saves.
func (l *VerifiedWork) Save(path string) error {
	l.mu.Lock()
	b, err := json.MarshalIndent(verifiedFile{Version: 2, Rule: "verified-work", Options: l.opt, Closed: l.closed,
		Entries: l.entries}, "", " ")
	l.mu.Unlock()
	return writeLedger(path, b, err)
}

// LoadVerifiedWork reads a ledger saved by Save. A missing file, or one of
// the v1 MovingAverage, gives an empty ledger with opt (the rule starts
// afresh); a corrupt one is an error wrapping ErrCorruptLedger.
func LoadVerifiedWork(path string, opt VerifiedWorkOptions) (*VerifiedWork, error) {
	l, err := NewVerifiedWork(opt)
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
	if err := l.load(path, b); err != nil {
		return nil, err
	}
	return l, nil
}

// load fills an empty ledger from a saved file's bytes.
func (l *VerifiedWork) load(path string, b []byte) error {
	var f verifiedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruptLedger, path, err)
	}
	if f.Version == 1 {
		return nil
	}
	if f.Version != 2 || f.Rule != "verified-work" {
		return fmt.Errorf("%w: %s: version %d, rule %q", ErrCorruptLedger, path, f.Version, f.Rule)
	}
	finite := func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }
	for u, e := range f.Entries {
		ok := e != nil && finite(e.Average) && finite(e.Credit) && finite(e.Forfeited) && e.Evaluations >= 0 &&
			e.Passes >= 0 && e.Fails >= 0 && e.Slashes >= 0 && e.Sampled >= 0 && len(e.Unvested) <= 1<<16
		for _, v := range e.Unvested {
			ok = ok && finite(v.Credit)
		}
		if !ok {
			clear(l.entries)
			return fmt.Errorf("%w: %s: bad entry for uid %d", ErrCorruptLedger, path, u)
		}
		l.entries[u] = e
	}
	l.closed = f.Closed
	return nil
}
