package subtensor

import (
	"cmp"
	"slices"

	"github.com/bistro-go/bistro"
)

// epoch runs netuid's epoch in the on_initialize of block m, over the state
// at the end of block m−1, and records its result at m. Called with l.mu
// held.
func (l *Local) epoch(sn *subnet, m bistro.Block) {
	n := len(sn.slots)
	in := yumaInput{
		stake:         make([]float64, n),
		permit:        make([]bool, n),
		active:        make([]bool, n),
		weights:       sn.weights,
		lastUpdate:    sn.lastUpdate,
		registered:    make([]bistro.Block, n),
		kappa:         sn.opts.Kappa,
		maxValidators: int(sn.opts.MaxValidators),
	}
	prev := sn.lastRecord()
	for uid, slot := range sn.slots {
		e := slot[len(slot)-1]
		in.stake[uid] = float64(l.liveStake(e.hotkey))
		in.permit[uid], _, _, _ = epochTerms(prev, uid, e)
		in.active[uid] = uint64(sn.lastUpdate[uid])+sn.opts.ActivityCutoff >= uint64(m)
		in.registered[uid] = e.from
	}
	out := yuma(in)
	sn.epochs = append(sn.epochs, epochRecord{
		at:        m,
		permit:    out.permit,
		consensus: out.consensus,
		incentive: out.incentive,
		dividends: out.dividends,
		emission:  out.emission,
	})
	sn.lastEpoch = m
	sn.epochIndex++
	l.log.Debug("epoch", "netuid", sn.opts.Netuid, "block", m, "uids", n)
}

// yumaInput is what an epoch reads, indexed by uid.
type yumaInput struct {
	stake         []float64       // the hotkeys' stake, any unit
	permit        []bool          // validator permits in force during this epoch
	active        []bool          // set weights within the activity cutoff
	weights       [][]weightEntry // rows as stored (max-upscaled u16); nil = none
	lastUpdate    []bistro.Block  // block of each row's last weights (or registration)
	registered    []bistro.Block  // block each uid's holder registered at
	kappa         float64
	maxValidators int
}

// yumaOutput is an epoch's result, indexed by uid.
type yumaOutput struct {
	permit    []bool // permits for the next epoch
	consensus []float64
	incentive []float64
	dividends []float64
	emission  []float64
}

// yuma is Subtensor's epoch (epoch_mechanism, original Yuma) in float64,
// with instantaneous bonds; see the package doc. Pure: it reads in only.
func yuma(in yumaInput) yumaOutput {
	n := len(in.stake)
	stake := normalized(in.stake)

	// Permits for the next epoch: the top K by stake, zero stake excluded.
	newPermit := topKNonzero(stake, in.maxValidators)

	// Active stake: permitted validators that set weights recently.
	active := make([]float64, n)
	for i := range n {
		if in.permit[i] && in.active[i] {
			active[i] = stake[i]
		}
	}
	active = normalized(active)

	// Weights: rows of permitted validators, without self weights and
	// without weights set before the target registered; rows normalized.
	w := make([][]float64, n)
	for i := range n {
		if !in.permit[i] || i >= len(in.weights) || in.weights[i] == nil {
			continue
		}
		row := make([]float64, n)
		var sum float64
		for _, e := range in.weights[i] {
			j := int(e.uid)
			if j == i || j >= n || in.lastUpdate[i] <= in.registered[j] {
				continue
			}
			row[j] = float64(e.weight)
			sum += row[j]
		}
		if sum > 0 {
			for j := range row {
				row[j] /= sum
			}
		}
		w[i] = row
	}

	// Consensus: per miner, the stake-weighted κ-quantile of the weights
	// of validators with active stake. Clip every weight to it.
	consensus := make([]float64, n)
	var voters []int
	for i := range n {
		if active[i] > 0 {
			voters = append(voters, i)
		}
	}
	col := make([]vote, len(voters))
	for j := range n {
		for k, i := range voters {
			col[k] = vote{stake: active[i]}
			if w[i] != nil {
				col[k].weight = w[i][j]
			}
		}
		consensus[j] = weightedQuantile(col, in.kappa)
	}
	clipped := make([][]float64, n)
	for i, row := range w {
		if row == nil {
			continue
		}
		c := make([]float64, n)
		for j, v := range row {
			if v > consensus[j] {
				v = consensus[j] // 0 when the consensus is 0: the weight is dropped
			}
			c[j] = v
		}
		clipped[i] = c
	}

	// Ranks and incentive: r_j = Σ_i s_i · w̄_ij, normalized.
	incentive := make([]float64, n)
	for i, row := range clipped {
		for j, v := range row {
			incentive[j] += active[i] * v
		}
	}
	incentive = normalized(incentive)

	// Dividends from this epoch's bonds: ΔB_ij = s_i · w̄_ij normalized per
	// column, d_i = Σ_j ΔB_ij · I_j, normalized (bonds penalty 1, no EMA).
	colSum := make([]float64, n)
	for i, row := range clipped {
		for j, v := range row {
			colSum[j] += active[i] * v
		}
	}
	dividends := make([]float64, n)
	for i, row := range clipped {
		for j, v := range row {
			if colSum[j] > 0 {
				dividends[i] += active[i] * v / colSum[j] * incentive[j]
			}
		}
	}
	dividends = normalized(dividends)

	// Emission shares (the pruning score): incentive + dividends,
	// normalized; with neither, the stake.
	emission := make([]float64, n)
	var total float64
	for i := range n {
		emission[i] = incentive[i] + dividends[i]
		total += emission[i]
	}
	switch {
	case total > 0:
		emission = normalized(emission)
	case sumOf(active) > 0:
		copy(emission, active)
	default:
		copy(emission, stake)
	}
	return yumaOutput{permit: newPermit, consensus: consensus, incentive: incentive, dividends: dividends, emission: emission}
}

// vote is one validator's weight on one miner and its stake.
type vote struct{ weight, stake float64 }

// weightedQuantile returns Subtensor's weighted_median of votes (stakes
// summing to 1): the smallest weight v such that the stake of the votes at
// or below v exceeds 1 − κ; equivalently the largest v that validators
// holding at least κ of the stake give at least. It sorts votes.
func weightedQuantile(votes []vote, kappa float64) float64 {
	if len(votes) == 0 {
		return 0
	}
	slices.SortFunc(votes, func(a, b vote) int { return cmp.Compare(a.weight, b.weight) })
	var total float64
	for _, v := range votes {
		total += v.stake
	}
	minority := total - kappa
	var cum float64
	for k, v := range votes {
		cum += v.stake
		if k+1 < len(votes) && votes[k+1].weight == v.weight {
			continue
		}
		if cum > minority {
			return v.weight
		}
	}
	return votes[len(votes)-1].weight
}

// topKNonzero is Subtensor's is_topk_nonzero: the k largest of x, by a
// stable ascending sort (so among equal values the higher uids win), and
// only non-zero ones.
func topKNonzero(x []float64, k int) []bool {
	out := make([]bool, len(x))
	for i, v := range x {
		out[i] = v != 0
	}
	if len(x) < k {
		return out
	}
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	for _, i := range idx[:len(x)-k] {
		out[i] = false
	}
	return out
}

func sumOf(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// normalized returns x / Σx, or x itself when the sum is 0.
func normalized(x []float64) []float64 {
	s := sumOf(x)
	if s == 0 {
		return x
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v / s
	}
	return out
}
