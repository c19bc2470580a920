package localnet

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkValidatorWindow measures one validator's work per window against
// the number of miners at a fixed sample size (4): fetching and checking
// every slice grows with the miners, recomputing the sample does not.
// Reported per window: fetch-ms (fetch + cheap checks of every slice) and
// recompute-ms (4 recomputations and scores).
func BenchmarkValidatorWindow(b *testing.B) {
	for _, n := range []int{8, 32, 128} {
		b.Run(fmt.Sprintf("miners=%d", n), func(b *testing.B) {
			o := DefaultOptions()
			o.Miners, o.Adversaries, o.Validators, o.Windows = n, nil, 1, 3
			o.InMemory = true
			var fetch, recompute time.Duration
			windows := 0
			for i := 0; i < b.N; i++ {
				rep, err := Run(context.Background(), o)
				if err != nil {
					b.Fatal(err)
				}
				st := rep.Validators[0]
				fetch += st.FetchTime
				recompute += st.RecomputeTime
				windows += st.Windows
			}
			b.ReportMetric(float64(fetch.Milliseconds())/float64(windows), "fetch-ms/window")
			b.ReportMetric(float64(recompute.Milliseconds())/float64(windows), "recompute-ms/window")
		})
	}
}

// BenchmarkDefaultLocalnet is the README's command: the default network.
func BenchmarkDefaultLocalnet(b *testing.B) {
	for i := 0; i < b.N; i++ {
		o := DefaultOptions()
		o.Dir = b.TempDir()
		if _, err := Run(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
