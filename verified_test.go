package bistro_test

import (
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

var (
	pass = bistro.Score{Value: 1, Verdict: bistro.Pass}
	fail = bistro.Score{Value: 0, Verdict: bistro.Fail, Reason: "rel err 1 > tau"}
)

func hotkey(i int) bistro.Hotkey { return bistro.Hotkey(sha256.Sum256([]byte{byte(i), byte(i >> 8)})) }

// TestVerifiedWorkRules pins each rule of the ledger on one miner.
func TestVerifiedWorkRules(t *testing.T) {
	opt := bistro.DefaultVerifiedWorkOptions() // α 0.1, probation 4 intervals
	newLedger := func() *bistro.VerifiedWork {
		l, err := bistro.NewVerifiedWork(opt)
		require.NoError(t, err)
		return l
	}
	close := func(l *bistro.VerifiedWork, w uint64, p float64) {
		l.CloseWindow(w, []bistro.WindowMiner{{UID: 1, Hotkey: hotkey(1), Inclusion: p, Interval: 1 / p}})
	}
	rate := func(l *bistro.VerifiedWork) float64 { e, _ := l.Entry(1); return e.Average }

	t.Run("a pass earns 1/p, vested at a pass 3/p windows later; an unverified window nothing", func(t *testing.T) {
		l := newLedger()
		l.Record(10, 1, hotkey(1), pass)
		close(l, 10, 0.25)
		e, _ := l.Entry(1)
		assert.Equal(t, []bistro.Vesting{{Window: 22, Credit: 4}}, e.Unvested)
		for w := uint64(11); w < 25; w++ {
			if w == 20 {
				l.Record(w, 1, hotkey(1), pass) // too early to vest window 10's credit
			}
			close(l, w, 0.25)
			assert.Zero(t, rate(l), "nothing paid before a pass at window 22 or later (window %d)", w)
		}
		l.Record(25, 1, hotkey(1), pass)
		close(l, 25, 0.25)
		assert.InDelta(t, 0.1*4, rate(l), 1e-12, "window 10's credit vests at the pass of window 25")
		e, _ = l.Entry(1)
		assert.Equal(t, []bistro.Vesting{{Window: 32, Credit: 4}, {Window: 37, Credit: 4}}, e.Unvested)
		close(l, 26, 0.25)
		assert.InDelta(t, 0.9*0.4, rate(l), 1e-12, "every window counts: the rate decays")
		assert.True(t, l.Eligible(1))
		uids, ws := l.Weights()
		assert.Equal(t, []bistro.UID{1}, uids)
		assert.Equal(t, []uint16{65535}, ws)
	})
	t.Run("a failure forfeits the unpaid credit and the rate and starts a probation", func(t *testing.T) {
		l := newLedger()
		for w := uint64(0); w < 8; w++ {
			l.Record(w, 1, hotkey(1), pass)
			close(l, w, 0.5)
		}
		e, _ := l.Entry(1)
		require.Positive(t, rate(l), "windows 0 and 1 vested at the passes of 6 and 7")
		require.Len(t, e.Unvested, 6, "windows 2…7 wait for passes at 8…13")
		l.Record(8, 1, hotkey(1), fail)
		close(l, 8, 0.5)
		assert.Zero(t, rate(l), "forfeited")
		e, _ = l.Entry(1)
		assert.Empty(t, e.Unvested)
		assert.InDelta(t, 12.0, e.Forfeited, 1e-12, "six passes' credit of 2 each")
		assert.InDelta(t, 4.0, e.Credit, 1e-12, "what vested stays paid")
		assert.False(t, l.Eligible(1), "not merged on probation")
		assert.Equal(t, uint64(8+1+8), e.ProbationUntil, "⌈4/p⌉ = 8 windows")
		for w := uint64(9); w < 17; w++ {
			l.Record(w, 1, hotkey(1), pass)
			close(l, w, 0.5)
			assert.Zero(t, rate(l), "a pass on probation earns nothing (window %d)", w)
		}
		for w := uint64(17); w <= 23; w++ {
			l.Record(w, 1, hotkey(1), pass)
			close(l, w, 0.5)
		}
		assert.Positive(t, rate(l), "earning again after the probation")
		assert.True(t, l.Eligible(1))
		_, ws := l.Weights()
		assert.NotEmpty(t, ws)
	})
	t.Run("a slash doubles the probation; a late proof still forfeits", func(t *testing.T) {
		l := newLedger()
		l.Record(0, 1, hotkey(1), pass)
		close(l, 0, 0.5)
		l.Record(1, 1, hotkey(1), pass)
		close(l, 1, 0.5)
		l.Record(1, 1, hotkey(1), bistro.Score{Verdict: bistro.Slash, Reason: "two different signed slices"})
		assert.Zero(t, rate(l))
		e, _ := l.Entry(1)
		assert.Equal(t, uint64(1+1+16), e.ProbationUntil)
		assert.Equal(t, 1, e.Slashes)
	})
	t.Run("a failure in the window wins over a pass", func(t *testing.T) {
		l := newLedger()
		l.Record(0, 1, hotkey(1), fail)
		l.Record(0, 1, hotkey(1), pass)
		close(l, 0, 1)
		e, _ := l.Entry(1)
		assert.Equal(t, 1, e.Fails)
		assert.Zero(t, e.Passes)
	})
	t.Run("a new hotkey on the uid starts afresh", func(t *testing.T) {
		l := newLedger()
		l.Record(0, 1, hotkey(1), fail)
		close(l, 0, 1)
		for w := uint64(1); w <= 4; w++ {
			if w == 1 || w == 4 {
				l.Record(w, 1, hotkey(2), pass)
			}
			l.CloseWindow(w, []bistro.WindowMiner{{UID: 1, Hotkey: hotkey(2), Inclusion: 1}})
		}
		e, _ := l.Entry(1)
		assert.Equal(t, hotkey(2), e.Hotkey)
		assert.Zero(t, e.ProbationUntil)
		assert.InDelta(t, 0.1, e.Average, 1e-12)
	})
	t.Run("windows close once, in order", func(t *testing.T) {
		l := newLedger()
		l.Record(3, 1, hotkey(1), pass)
		close(l, 3, 1)
		r := rate(l)
		close(l, 3, 1)
		close(l, 2, 1)
		assert.Equal(t, r, rate(l))
	})
	t.Run("save and load", func(t *testing.T) {
		l := newLedger()
		l.Record(0, 1, hotkey(1), pass)
		close(l, 0, 0.5)
		path := filepath.Join(t.TempDir(), "ledger.json")
		require.NoError(t, l.Save(path))
		back, err := bistro.LoadVerifiedWork(path, opt)
		require.NoError(t, err)
		a, _ := l.Entry(1)
		b, _ := back.Entry(1)
		assert.Equal(t, a, b)
		close(back, 0, 0.5) // already closed before the save
		b2, _ := back.Entry(1)
		assert.Equal(t, a, b2)
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := bistro.NewVerifiedWork(bistro.VerifiedWorkOptions{Alpha: 0})
		assert.Error(t, err)
		_, err = bistro.NewVerifiedWork(bistro.VerifiedWorkOptions{Alpha: 0.1, Probation: -1})
		assert.Error(t, err)
	})
}

// strategy says, per window, whether a miner computed the honest update
// (its compute) and whether its slice passes a recomputation.
type strategy struct {
	name string
	// act returns compute (pages' fraction) and pass for window w.
	act func(w int, r *bistro.Rand) (compute float64, pass bool)
}

var (
	honestS       = strategy{"honest", func(int, *bistro.Rand) (float64, bool) { return 1, true }}
	partialS      = strategy{"partial", func(int, *bistro.Rand) (float64, bool) { return 0.5, false }}
	intermittentS = strategy{"intermittent", func(_ int, r *bistro.Rand) (float64, bool) {
		if r.Below(4) == 0 { // q = 0.25
			return 0, false
		}
		return 1, true
	}}
	hitAndRunS = strategy{"hit-and-run", func(w int, _ *bistro.Rand) (float64, bool) { return map[bool]float64{true: 1}[w < 6], w < 6 }}
	freeS      = strategy{"free-rider", func(int, *bistro.Rand) (float64, bool) { return 0, false }}
)

// simulate runs the ledger alone — the sampler, the records, the windows —
// for a network of the given strategies, and returns each miner's lifetime
// pay (its share of the weights, summed over windows) and compute.
func simulate(t *testing.T, strategies []strategy, windows, sample int, seed string) (pay, compute []float64) {
	l, err := bistro.NewVerifiedWork(bistro.DefaultVerifiedWorkOptions())
	require.NoError(t, err)
	s := bistro.NewSeededSampler(sha256.Sum256([]byte("sampler " + seed)))
	r := bistro.NewRand(sha256.Sum256([]byte("miners " + seed)))
	n := len(strategies)
	pay, compute = make([]float64, n), make([]float64, n)
	uids := make([]bistro.UID, n)
	for i := range uids {
		uids[i] = bistro.UID(i)
	}
	for w := 0; w < windows; w++ {
		passes := make([]bool, n)
		for i, st := range strategies {
			c, p := st.act(w, r)
			compute[i] += c
			passes[i] = p
		}
		inc := s.Inclusion(uids, l.Evaluated, sample)
		for _, u := range s.Sample(uint64(w), uids, l.Evaluated, sample) {
			sc := fail
			if passes[u] {
				sc = pass
			}
			l.Record(uint64(w), u, hotkey(int(u)), sc)
		}
		miners := make([]bistro.WindowMiner, n)
		for i := range miners {
			miners[i] = bistro.WindowMiner{UID: uids[i], Hotkey: hotkey(i), Inclusion: inc[uids[i]],
				Interval: max(1, float64(n)/float64(sample))}
		}
		l.CloseWindow(uint64(w), miners)
		us, ws := l.Weights()
		var total float64
		for _, x := range ws {
			total += float64(x)
		}
		for i, u := range us {
			pay[u] += float64(ws[i]) / total
		}
	}
	return pay, compute
}

// TestVerifiedWorkPayoffs checks SPEC.md §11's bounds by simulation, on 10
// seeds: no strategy earns as much per unit of compute as an honest miner
// (partial and intermittent workers less than their compute share); with as
// many free riders as honest miners — among them hit-and-run after its
// honest start — honest miners hold at least 95% of the pay, at 12 miners
// over 96 windows and at 32 over 192.
func TestVerifiedWorkPayoffs(t *testing.T) {
	for _, tc := range []struct {
		name            string
		honest, windows int
		others          []strategy
	}{
		{"workers", 6, 96, []strategy{partialS, intermittentS, hitAndRunS}},
		{"free riders 6+6", 6, 96, []strategy{hitAndRunS, freeS, freeS, freeS, freeS, freeS}},
		{"free riders 16+16", 16, 192, append([]strategy{hitAndRunS, hitAndRunS}, slices.Repeat([]strategy{freeS}, 14)...)},
	} {
		for seed := range 10 {
			t.Run(fmt.Sprintf("%s/%d", tc.name, seed), func(t *testing.T) {
				sts := append(slices.Repeat([]strategy{honestS}, tc.honest), tc.others...)
				pay, compute := simulate(t, sts, tc.windows, 4, fmt.Sprint(seed))
				var honestPay, honestCompute, total float64
				for i, st := range sts {
					total += pay[i]
					if st.name == "honest" {
						honestPay += pay[i]
						honestCompute += compute[i]
					}
				}
				perCompute := honestPay / honestCompute
				for i, st := range sts {
					switch {
					case st.name == "honest":
						continue
					case compute[i] == 0:
						assert.Zero(t, pay[i], "%s computes nothing and earns nothing", st.name)
						continue
					}
					assert.Less(t, pay[i]/compute[i], perCompute, "%s earns less per unit of compute than honest miners", st.name)
				}
				if tc.name != "workers" {
					assert.GreaterOrEqual(t, honestPay/total, 0.95, "honest miners hold 95%% of the pay")
				}
			})
		}
	}
}

// TestVerifiedWorkFlatInSize: an honest miner's pay rate is 1 per window in
// expectation whatever the network's size — a pass earns 1/p.
func TestVerifiedWorkFlatInSize(t *testing.T) {
	for _, n := range []int{8, 32, 128} {
		l, err := bistro.NewVerifiedWork(bistro.DefaultVerifiedWorkOptions())
		require.NoError(t, err)
		s := bistro.NewSeededSampler(sha256.Sum256([]byte("flat")))
		uids := make([]bistro.UID, n)
		for i := range uids {
			uids[i] = bistro.UID(i)
		}
		var sum float64
		var count int
		for w := 0; w < 600; w++ {
			inc := s.Inclusion(uids, l.Evaluated, 4)
			for _, u := range s.Sample(uint64(w), uids, l.Evaluated, 4) {
				l.Record(uint64(w), u, hotkey(int(u)), pass)
			}
			miners := make([]bistro.WindowMiner, n)
			for i := range miners {
				miners[i] = bistro.WindowMiner{UID: uids[i], Hotkey: hotkey(i), Inclusion: inc[uids[i]],
					Interval: max(1, float64(n)/4)}
			}
			l.CloseWindow(uint64(w), miners)
			if w >= 200 {
				for _, u := range uids {
					e, _ := l.Entry(u)
					sum += e.Average
					count++
				}
			}
		}
		assert.InDelta(t, 1, sum/float64(count), 0.1, "the mean honest rate at %d miners", n)
	}
}

// FuzzLoadVerifiedWork: a ledger file of any bytes is loaded or refused with
// ErrCorruptLedger, never a panic, and a loaded one holds only finite,
// non-negative figures that the ledger can keep using.
func FuzzLoadVerifiedWork(f *testing.F) {
	l, err := bistro.NewVerifiedWork(bistro.DefaultVerifiedWorkOptions())
	require.NoError(f, err)
	for w := uint64(0); w < 12; w++ {
		l.Record(w, 1, hotkey(1), pass)
		if w == 9 {
			l.Record(w, 2, hotkey(2), fail)
		}
		l.CloseWindow(w, []bistro.WindowMiner{{UID: 1, Hotkey: hotkey(1), Inclusion: 0.5, Interval: 2, Sampled: true},
			{UID: 2, Hotkey: hotkey(2), Inclusion: 0.5, Interval: 2}})
	}
	path := filepath.Join(f.TempDir(), "seed.json")
	require.NoError(f, l.Save(path))
	good, err := os.ReadFile(path)
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"version":1,"alpha":0.2,"entries":{}}`))
	f.Add([]byte(`{"version":2,"rule":"verified-work","entries":{"1":{"average":-1}}}`))
	f.Add([]byte(`{"version":2,"rule":"verified-work","entries":{"1":{"unvested":[{"window":1,"credit":1e400}]}}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "ledger.json")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		l, err := bistro.LoadVerifiedWork(path, bistro.DefaultVerifiedWorkOptions())
		if err != nil {
			require.ErrorIs(t, err, bistro.ErrCorruptLedger)
			return
		}
		for u := bistro.UID(0); u < 4; u++ {
			l.Record(100, u, hotkey(int(u)), pass)
		}
		l.CloseWindow(100, []bistro.WindowMiner{{UID: 1, Hotkey: hotkey(1), Inclusion: 1}})
		uids, ws := l.Weights()
		require.Len(t, ws, len(uids))
		for _, u := range uids {
			e, ok := l.Entry(u)
			require.True(t, ok)
			require.False(t, math.IsNaN(e.Average) || math.IsInf(e.Average, 0) || e.Average < 0)
		}
	})
}
