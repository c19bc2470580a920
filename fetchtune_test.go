package bistro

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestFetchTuner drives the tuner with a bucket whose throughput grows with
// parallel fetches up to a ceiling: it climbs while doubling helps, steps
// back from the size that did not, waits, probes again, halves on
// throttling, never leaves [1, most], and ignores rounds too small to
// measure.
func TestFetchTuner(t *testing.T) {
	const mb = 1 << 20
	// 10 MB/s per connection up to 120 MB/s.
	round := func(tu *fetchTuner, files int) {
		rate := float64(min(tu.limit, 12)) * 10 * mb
		bytes := int64(files) * 5 * mb
		tu.observe(files, bytes, time.Duration(float64(bytes)/rate*float64(time.Second)), 0)
	}
	tu := newFetchTuner(2, 64)
	var sizes []int
	for range 6 {
		round(tu, 256)
		sizes = append(sizes, tu.limit)
	}
	// 2 → 4 (+100%) → 8 → 16 (+50%) → 32 (no gain: back to 16), then waits.
	assert.Equal(t, []int{4, 8, 16, 32, 16, 16}, sizes)
	for range fetchProbeEvery - 1 {
		round(tu, 256)
	}
	assert.Equal(t, 16, tu.limit, "settled until the wait is over")
	round(tu, 256)
	assert.Equal(t, 32, tu.limit, "probes again")
	round(tu, 256)
	assert.Equal(t, 16, tu.limit, "and steps back")

	tu.observe(256, 256*5*mb, time.Second, 3)
	assert.Equal(t, 8, tu.limit, "throttled: halved")

	small := newFetchTuner(8, 64)
	small.observe(10, 50*mb, time.Second, 0) // fewer than 2 per slot
	small.observe(100, 50*mb, 0, 0)          // no time measured (a test clock)
	assert.Equal(t, 8, small.limit)
	assert.Zero(t, small.base)

	capped := newFetchTuner(100, 5)
	assert.Equal(t, 5, capped.limit)
	for range 40 {
		capped.observe(1000, 1000*mb, time.Second, 0)
		assert.LessOrEqual(t, capped.limit, 5)
	}
	one := newFetchTuner(0, 0)
	one.observe(10, mb, time.Second, 1)
	assert.Equal(t, 1, one.limit, "never below 1")
}
