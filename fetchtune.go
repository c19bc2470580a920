package bistro

import "time"

// FetchMemory bounds the bytes a validator's slice fetches hold at once
// before they are checked and spooled: the fetch concurrency is at most
// FetchMemory / the largest file a slice may be.
const FetchMemory = 2 << 30

// fetchProbeEvery is how many measured windows a settled fetch tuner waits
// before it tries a larger size again.
const fetchProbeEvery = 16

// fetchTuner sizes a validator's fetch concurrency from the throughput it
// measures, window by window (the bucket servers and the network decide
// what helps, and they change): it doubles the number of parallel fetches
// while a window's fetch moves ≥ 10% more bytes per second than at the size
// before, steps back to that size when it did not, and tries again after
// fetchProbeEvery windows. A round with transport errors (throttling, 5xx)
// halves the size. Only windows with at least two fetches per slot of the
// size are measured. The size stays within [1, most]. Fetching is the only
// thing it changes: which slices are held never depends on it.
type fetchTuner struct {
	limit, most int
	base        int     // the size being improved on (0: not probing)
	baseRate    float64 // its bytes/s
	wait        int     // measured windows until the next probe
}

func newFetchTuner(start, most int) *fetchTuner {
	most = min(max(most, 1), 1<<12)
	return &fetchTuner{limit: min(max(start, 1), most), most: most}
}

// observe records one round of fetches at the current size: n files
// fetched, bytes in all, taking d, with failed transport errors.
func (t *fetchTuner) observe(n int, bytes int64, d time.Duration, failed int) {
	if failed > 0 {
		t.limit, t.base, t.wait = max(1, t.limit/2), 0, fetchProbeEvery
		return
	}
	if n < 2*t.limit || bytes <= 0 || d <= 0 {
		return
	}
	rate := float64(bytes) / d.Seconds()
	switch {
	case t.base != 0 && rate >= 1.1*t.baseRate:
		// The larger size helped: keep it and try the next.
		t.base, t.baseRate = t.limit, rate
		t.grow()
	case t.base != 0:
		t.limit, t.base, t.wait = t.base, 0, fetchProbeEvery
	case t.wait > 0:
		t.wait--
	default:
		t.base, t.baseRate = t.limit, rate
		t.grow()
	}
}

// grow tries twice the size, or settles at the largest.
func (t *fetchTuner) grow() {
	if t.limit >= t.most {
		t.base, t.wait = 0, fetchProbeEvery
		return
	}
	t.limit = min(2*t.limit, t.most)
}
