package bistro

import (
	"errors"
	"fmt"
	"time"
)

// Throughput is what one lead's machine sustains on each stage of its
// window, in bytes of slices per second on all its cores together
// (BenchmarkScaleWindow measures them: pass 1 gives Fetch and Check, the
// merge Merge). It is a property of the lead's hardware, not of Params.
type Throughput struct {
	// Fetch is the rate of reading the miners' slices from their buckets,
	// every connection together.
	Fetch float64
	// Check is the rate of decoding and checking slices (signature,
	// digests, finiteness, shapes) with their norm and Δ digest.
	Check float64
	// Merge is the rate of the aggregator's merge, in input bytes.
	Merge float64
}

// MeasuredThroughput is what BenchmarkScaleWindow measured on a 2-core
// machine (AMD EPYC, 2026-12-03, a 1.3B layout at f = 0.01, 256 miners,
// 13.5 GB a window, a local bucket): fetch 13.5 GB in 6.3 s a core × 2
// workers, decode and check with the norm 20.6 s, merge 64.9 s — a whole
// window of 92 s. A floor for a lead, not a target; Fetch is a local disk's,
// a remote bucket's is the network's.
var MeasuredThroughput = Throughput{Fetch: 2000e6, Check: 650e6, Merge: 200e6}

// SubnetMiners is the most miners a subnet holds (its uids).
const SubnetMiners = 256

// ErrLeadOverBudget is wrapped by LeadFits when the lead's estimated work
// does not fit the merge time Params grant it.
var ErrLeadOverBudget = errors.New("bistro: the lead's window does not fit the time budget")

// SliceBytes returns the approximate size of one slice's values:
// 4 · f · parameters (the selector draws fraction f of every tensor, at
// least one element each; the headers are small beside it).
func (p *Params) SliceBytes() float64 {
	return 4 * p.SliceFraction * float64(p.Model.Parameters)
}

// LeadTime estimates the lead's work for one window of miners slices at th
// (SPEC.md §2.3): fetch, check and merge every slice, stage after stage —
//
//	miners × slice_bytes × (1/fetch + 1/check + 1/merge)
//
// — with encoding, signing and publishing one slice-sized aggregate
// (small beside it) left out. A lead that overlaps fetch and check does
// better; the estimate is what a budget should plan for.
func (p *Params) LeadTime(miners int, th Throughput) time.Duration {
	b := float64(miners) * p.SliceBytes()
	var s float64
	for _, r := range []float64{th.Fetch, th.Check, th.Merge} {
		if r > 0 {
			s += b / r
		}
	}
	return time.Duration(s * float64(time.Second))
}

// LeadFits reports whether the lead's estimated work (LeadTime) for miners
// slices at th fits both merge_time_ms and the room the window leaves for
// it, (B − G − finality_lag) × block time. It returns nil when it fits and
// an error wrapping ErrLeadOverBudget naming the figures otherwise. It is
// advice for the subnet's owner (bistro params show prints it), not a
// validity rule: the figures depend on the lead's hardware.
func (p *Params) LeadFits(miners int, th Throughput) error {
	need := p.LeadTime(miners, th)
	have := time.Duration(p.MergeTimeMS) * time.Millisecond
	if p.BlocksPerWindow > p.Grace+p.FinalityLag {
		room := time.Duration((p.BlocksPerWindow-p.Grace-p.FinalityLag)*p.BlockTimeMS) * time.Millisecond
		have = min(have, room)
	}
	if need > have {
		return fmt.Errorf("%w: %d miners × %.1f MB slices need ≈ %s at fetch %.0f, check %.0f, merge %.0f MB/s; merge_time_ms and the window grant %s",
			ErrLeadOverBudget, miners, p.SliceBytes()/1e6, need.Round(time.Second/10), th.Fetch/1e6, th.Check/1e6, th.Merge/1e6, have)
	}
	return nil
}
