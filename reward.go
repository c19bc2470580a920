package bistro

// Verdict is the outcome of one evaluation of a miner.
type Verdict uint8

const (
	// Pass: the slice matched the validator's recomputation.
	Pass Verdict = iota
	// Fail: a cheap check failed or the slice did not match; recorded as 0.
	Fail
	// Slash: evidence of cheating (far off the recomputation, or two
	// different signed slices for one window); resets the miner's average.
	Slash
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Slash:
		return "slash"
	}
	return "verdict?"
}

// Score is a validator's evaluation of one miner in one window.
type Score struct {
	// Value is the score recorded in the ledger (1 or 0 for pass/fail).
	Value float64
	Verdict
	// Reason says why, for logs and reports ("rel err 0.31 > τ 0.05").
	Reason string
}

// Scorer compares a miner's slice with the validator's recomputation at the
// same coordinates (both laid out as Indices are: per tensor). It is
// validator-local: swapping it cannot split the network. Implementations must
// be pure and safe for concurrent use.
type Scorer interface {
	Score(miner, validator [][]float32) Score
}

// Aggregator merges the accepted slices of a window into one update. It is
// consensus critical (Params names it): every implementation must give the
// same bits for the same inputs, in any run, on any machine. The lead calls
// Scales once with every contribution's L2 norm, then Merge once per tensor,
// so memory stays bounded by one tensor × contributions.
type Aggregator interface {
	// Scales returns one multiplier per contribution (a norm clip; 1 = as is).
	Scales(norms []float64) []float64
	// Merge writes the coordinate-wise merge of inputs, each multiplied by
	// its scale, into dst. inputs are in uid order, each of len(dst); none
	// is modified. With no inputs dst is zeroed.
	Merge(dst []float32, inputs [][]float32, scales []float64)
}

// Sampler picks which miners a validator recomputes this window. It is
// validator-local; its unpredictability is what makes cheating costly, so the
// default draws from crypto/rand.
type Sampler interface {
	// Sample returns up to n distinct uids of candidates, never-evaluated
	// ones first (evaluated reports whether a uid was ever evaluated).
	Sample(window uint64, candidates []UID, evaluated func(UID) bool, n int) []UID
}

// Ledger keeps each miner's record and turns it into weights. It is
// validator-local and must persist across restarts (LedgerSaver); the
// default, VerifiedWork, is also a WindowLedger. Implementations are safe for
// concurrent use.
type Ledger interface {
	// Record adds one evaluation; a hotkey different from the one the uid
	// had starts that uid afresh. The validator records each (window, uid)
	// once (plus a late proof of equivocation).
	Record(window uint64, uid UID, hotkey Hotkey, s Score)
	// Evaluated reports whether uid was evaluated (or, for a WindowLedger,
	// drawn for recomputation) before: the sampler takes others first.
	Evaluated(uid UID) bool
	// Eligible reports whether the lead may merge uid's slices: at least one
	// passed evaluation and no standing penalty (SPEC.md §9, §11).
	Eligible(uid UID) bool
	// Weights returns u16 weights, normalized and max-upscaled as Subtensor
	// expects, for the uids with at least one evaluation, sorted by uid.
	Weights() ([]UID, []uint16)
}

// LedgerSaver is the optional interface of a Ledger that persists itself.
// The validator calls Save with the path of ledger.json in its StateDir after
// every window it records, and again at later heads until it succeeds. Save
// must replace the file atomically: a crash leaves the old or the new one.
type LedgerSaver interface {
	Save(path string) error
}

// WindowLedger is the optional capability of a Ledger that counts every
// window for every miner, verified or not (VerifiedWork). After recording a
// window's evaluations with Record, the validator calls CloseWindow once with
// every miner it judged that window and the probability it had of
// recomputing each. A Ledger without it gets the v1 flow: cheap-check
// failures recorded for every miner, recomputations for the sample.
type WindowLedger interface {
	Ledger
	// CloseWindow ends window w: miners are the ones present (announced)
	// this window with their inclusion probabilities, in (0, 1]. Calls
	// come in increasing w; a repeated or older w is ignored.
	CloseWindow(w uint64, miners []WindowMiner)
}
