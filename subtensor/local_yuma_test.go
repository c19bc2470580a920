package subtensor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// TestLocalYumaWorkedExample checks one epoch against a computation by hand.
//
// Validators (uids 0–2) with stake 450, 350, 200, normalized
// s = (0.45, 0.35, 0.20); miners (uids 3–5) with no stake, so no permit.
// Weights, rows normalized to sum 1 (miners 3, 4, 5):
//
//	V0: (1,   0,   0  )
//	V1: (1/2, 1/2, 0  )
//	V2: (1/3, 1/3, 1/3)
//
// Consensus c_j, κ = 32767/65535 (just under 1/2): the smallest weight v
// such that the stake voting at most v exceeds 1 − κ ≈ 0.500008.
//
//	miner 3: 1/3 (0.20), 1/2 (+0.35 = 0.55 > 0.5)         → c3 = 1/2
//	miner 4: 0 (0.45), 1/3 (+0.20 = 0.65 > 0.5)            → c4 = 1/3
//	miner 5: 0 (0.45 + 0.35 = 0.80 > 0.5)                  → c5 = 0
//
// Clipped weights w̄ = min(w, c): V0 (1/2, 0, 0), V1 (1/2, 1/3, 0),
// V2 (1/3, 1/3, 0). V0 is clipped on miner 3, V1 on miner 4, and V2's
// weight on miner 5, which nobody else backs, is clipped to nothing.
//
// Ranks r_j = Σ_i s_i·w̄_ij:
//
//	r3 = 0.45/2 + 0.35/2 + 0.20/3 = 0.4 + 1/15 = 7/15
//	r4 = 0.35/3 + 0.20/3          = 11/60
//	r5 = 0
//
// Incentive = r / Σr, Σr = 28/60 + 11/60 = 39/60: I3 = 28/39, I4 = 11/39.
//
// Dividends: ΔB_ij = s_i·w̄_ij normalized per miner:
//
//	miner 3: (0.225, 0.175, 1/15) / (7/15) = (27/56, 3/8, 1/7)
//	miner 4: (0, 0.35/3, 0.2/3) / (11/60)  = (0, 7/11, 4/11)
//
// d_i = Σ_j ΔB_ij·I_j: d0 = 27/56·28/39 = 9/26, d1 = 3/8·28/39 +
// 7/11·11/39 = 35/78, d2 = 1/7·28/39 + 4/11·11/39 = 8/39; they sum to 1.
func TestLocalYumaWorkedExample(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		sn := &o.Subnets[0]
		sn.MaxUIDs = 8
		sn.MaxValidators = 3
		sn.Tempo = 10
		sn.WeightsRateLimit = 1
		sn.ActivityCutoff = 1000
		sn.MinAllowedWeights = 0
	})
	var vals []*bistro.Keypair
	for i, uri := range []string{"//V0", "//V1", "//V2", "//M3", "//M4", "//M5"} {
		k := key(t, uri)
		require.Equal(t, bistro.UID(i), register(t, l, 1, k))
		if i < 3 {
			vals = append(vals, k)
			require.NoError(t, l.SetStake(ctx, k.Hotkey(), []uint64{450, 350, 200}[i]))
		}
	}
	advanceTo(t, l, 10) // epoch at 10: permits for the three validators
	ns, err := l.Neurons(ctx, 1, 10)
	require.NoError(t, err)
	for _, n := range ns {
		require.Equal(t, n.UID < 3, n.ValidatorPermit, "uid %d", n.UID)
	}

	const one = 65535
	set := func(v *bistro.Keypair, uids []bistro.UID, ws []uint16) {
		require.NoError(t, l.SetWeights(ctx, v, 1, uids, ws, 0))
	}
	set(vals[0], []bistro.UID{3}, []uint16{one})
	set(vals[1], []bistro.UID{3, 4}, []uint16{one, one})
	set(vals[2], []bistro.UID{3, 4, 5}, []uint16{7, 7, 7}) // max-upscaled to 65535 each

	advanceTo(t, l, 19)
	assert.Equal(t, []float64{0, 0, 0, 0, 0, 0}, l.Incentive(1), "no weights in the epoch at 10")
	advanceTo(t, l, 20) // epoch at 20

	const eps = 1e-9
	wantI := []float64{0, 0, 0, 28.0 / 39, 11.0 / 39, 0}
	wantD := []float64{9.0 / 26, 35.0 / 78, 8.0 / 39, 0, 0, 0}
	gotI, gotD := l.Incentive(1), l.Dividends(1)
	require.Len(t, gotI, 6)
	require.Len(t, gotD, 6)
	for i := range wantI {
		assert.InDelta(t, wantI[i], gotI[i], eps, "incentive of uid %d", i)
		assert.InDelta(t, wantD[i], gotD[i], eps, "dividends of uid %d", i)
	}
	ns, err = l.Neurons(ctx, 1, 20)
	require.NoError(t, err)
	for i, n := range ns {
		assert.InDelta(t, wantI[i], n.Incentive, eps, "Neurons: incentive of uid %d", i)
	}
	ns, err = l.Neurons(ctx, 1, 19)
	require.NoError(t, err)
	for _, n := range ns {
		assert.Zero(t, n.Incentive, "uid %d at block 19, before the epoch", n.UID)
	}
}

// TestLocalYumaMasks checks what the epoch leaves out: weights from a
// validator past the activity cutoff, and weights set before their target
// registered.
func TestLocalYumaMasks(t *testing.T) {
	ctx := context.Background()
	l := newLocal(t, func(o *subtensor.LocalOptions) {
		sn := &o.Subnets[0]
		sn.MaxUIDs = 3
		sn.MaxValidators = 2
		sn.Tempo = 10
		sn.WeightsRateLimit = 1
		sn.ActivityCutoff = 15
		sn.MinAllowedWeights = 0
		sn.ImmunityPeriod = 0
	})
	v0, v1, m := key(t, "//V0"), key(t, "//V1"), key(t, "//M")
	for _, k := range []*bistro.Keypair{v0, v1, m} {
		register(t, l, 1, k)
	}
	require.NoError(t, l.SetStake(ctx, v0.Hotkey(), 100))
	require.NoError(t, l.SetStake(ctx, v1.Hotkey(), 100))
	advanceTo(t, l, 10)
	require.NoError(t, l.SetWeights(ctx, v0, 1, []bistro.UID{2}, []uint16{1}, 0)) // block 11
	require.NoError(t, l.SetWeights(ctx, v1, 1, []bistro.UID{2}, []uint16{1}, 0))
	advanceTo(t, l, 20)
	assert.InDelta(t, 1.0, l.Incentive(1)[2], 1e-12, "both validators back the miner")

	// v1 stops setting weights; v0 goes on. At block 30 v1 is past the
	// cutoff (11 + 15 < 30) and only v0 counts; the miner keeps all.
	advanceTo(t, l, 25)
	require.NoError(t, l.SetWeights(ctx, v0, 1, []bistro.UID{2}, []uint16{1}, 0))
	advanceTo(t, l, 30)
	assert.InDelta(t, 1.0, l.Incentive(1)[2], 1e-12)
	d := l.Dividends(1)
	assert.InDelta(t, 1.0, d[0], 1e-12, "only the active validator earns dividends")
	assert.Zero(t, d[1])

	// A new neuron registers at block 31 and takes uid 1, the inactive
	// validator's, whose emission was lowest. v0 sets weights on it in the
	// same block, after the registration: Subtensor still masks them
	// (last update ≤ registration), so at block 40 the miner keeps all.
	uid, err := l.Register(ctx, 1, key(t, "//N").Hotkey())
	require.NoError(t, err)
	require.Equal(t, bistro.UID(1), uid)
	require.NoError(t, l.SetWeights(ctx, v0, 1, []bistro.UID{1, 2}, []uint16{1, 1}, 0))
	advanceTo(t, l, 40)
	assert.Equal(t, []float64{0, 0, 1}, l.Incentive(1))
	// Set again in a later block, they count.
	advanceTo(t, l, 41)
	require.NoError(t, l.SetWeights(ctx, v0, 1, []bistro.UID{1, 2}, []uint16{1, 1}, 0))
	advanceTo(t, l, 50)
	assert.Equal(t, []float64{0, 0.5, 0.5}, l.Incentive(1))
}
