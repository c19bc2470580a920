package bistro

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLeadFits(t *testing.T) {
	th := Throughput{Fetch: 1e9, Check: 1e9, Merge: 0.5e9} // 4 s per GB
	for _, c := range []struct {
		name   string
		params uint64
		f      float64
		miners int
		fits   bool
	}{
		{"tiny model", 20800, 0.05, 256, true},
		{"124M at 64", 124_439_808, 0.01, 64, true},
		// 256 × 52 MB × 4 s/GB ≈ 53 s > merge_time 40 s.
		{"1.3B at 256", 1_300_000_000, 0.01, 256, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultParams(3)
			p.Model.Parameters, p.SliceFraction = c.params, c.f
			want := time.Duration(float64(c.miners) * 4 * c.f * float64(c.params) * 4 / 1e9 * float64(time.Second))
			assert.InDelta(t, float64(want), float64(p.LeadTime(c.miners, th)), float64(time.Millisecond))
			err := p.LeadFits(c.miners, th)
			if c.fits {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrLeadOverBudget), "%v", err)
			}
		})
	}
}
