package subtensor

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// quantileReference is Subtensor's weighted_median (math.rs) transcribed
// literally: a binary search around the middle pivot of the partition.
func quantileReference(stake, score []float64, kappa float64) float64 {
	var total float64
	for _, s := range stake {
		total += s
	}
	minority := total - kappa
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	lo, hi := 0.0, total
	for range len(score) + 1 {
		n := len(idx)
		if n == 0 {
			return 0
		}
		if n == 1 {
			return score[idx[0]]
		}
		pivot := score[idx[n/2]]
		var lower, upper []int
		var loStake, hiStake float64
		for _, i := range idx {
			switch {
			case score[i] == pivot:
			case score[i] < pivot:
				loStake += stake[i]
				lower = append(lower, i)
			default:
				hiStake += stake[i]
				upper = append(upper, i)
			}
		}
		switch {
		case minority < lo+loStake && len(lower) > 0:
			idx, hi = lower, lo+loStake
		case hi-hiStake <= minority && len(upper) > 0:
			idx, lo = upper, hi-hiStake
		default:
			return pivot
		}
	}
	return 0
}

func TestWeightedQuantileMatchesSubtensor(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []float64{0, 0.1, 0.25, 1.0 / 3, 0.5, 0.75, 1}
	for trial := range 2000 {
		n := 1 + r.IntN(9)
		stake := make([]float64, n)
		score := make([]float64, n)
		var sum float64
		for i := range n {
			stake[i] = float64(1 + r.IntN(20))
			sum += stake[i]
			score[i] = levels[r.IntN(len(levels))]
		}
		votes := make([]vote, n)
		for i := range n {
			stake[i] /= sum
			votes[i] = vote{weight: score[i], stake: stake[i]}
		}
		// Kappas off the stake sums' grid: float rounding cannot make a tie
		// that fixed point would not.
		for _, kappa := range []float64{defaultKappa, 0.5 + 1e-9, 0.2 + 1e-9, 0.9 - 1e-9, 1} {
			want := quantileReference(stake, score, kappa)
			got := weightedQuantile(append([]vote(nil), votes...), kappa)
			if !assert.Equal(t, want, got, "trial %d, κ %v, stake %v, score %v", trial, kappa, stake, score) {
				return
			}
		}
	}
}

func TestTopKNonzero(t *testing.T) {
	assert.Equal(t, []bool{false, true, true, false}, topKNonzero([]float64{5, 9, 5, 0}, 2))
	assert.Equal(t, []bool{true, false, true}, topKNonzero([]float64{1, 0, 2}, 5), "fewer than k: the non-zero ones")
	assert.Equal(t, []bool{false, false}, topKNonzero([]float64{0, 0}, 2))
	assert.Equal(t, []bool{false, false, true}, topKNonzero([]float64{3, 3, 3}, 1))
}

func TestMaxUpscale(t *testing.T) {
	assert.Equal(t, []uint16{65535, 32768, 0}, maxUpscale([]uint16{2, 1, 0}))
	assert.Equal(t, []uint16{0, 0}, maxUpscale([]uint16{0, 0}))
	assert.Equal(t, []uint16{65535, 65535}, maxUpscale([]uint16{7, 7}))
}
