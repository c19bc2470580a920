package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/storage/s3/s3test"
)

// faulty returns a store of a new bucket reached through a fault proxy, with
// short timeouts, and the proxy.
func faulty(t *testing.T, tune func(o *s3.Options)) (*s3.Store, *s3test.Proxy) {
	t.Helper()
	direct := newStore(t)
	p, err := s3test.NewProxy(srv.Endpoint)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	o := srv.Options(direct.Bucket())
	o.Endpoint = p.URL
	o.HeaderTimeout = 300 * time.Millisecond
	o.Timeout = 5 * time.Second
	if tune != nil {
		tune(&o)
	}
	st, err := s3.New(t.Context(), o)
	require.NoError(t, err)
	return st, p
}

// TestFaultsRetried injects each transient fault a few times into each
// operation: the store retries and succeeds, with the right bytes.
func TestFaultsRetried(t *testing.T) {
	data := bytes.Repeat([]byte("bistro slice "), 10000) // 130 kB
	for _, f := range []struct {
		fault  s3test.Fault
		times  int
		delay  time.Duration
		bodies bool // only responses with a body are affected
	}{
		{fault: s3test.Status500, times: 2},
		{fault: s3test.SlowDown, times: 2},
		{fault: s3test.Reset, times: 2},
		{fault: s3test.Slow, times: 1, delay: time.Second}, // beyond HeaderTimeout
		{fault: s3test.Truncate, times: 2, bodies: true},
	} {
		t.Run(f.fault.String(), func(t *testing.T) {
			ctx := t.Context()
			st, p := faulty(t, nil)
			for _, op := range []struct {
				method string
				run    func() error
			}{
				{"PUT", func() error { return st.Put(ctx, "obj/a", bytes.NewReader(data), int64(len(data))) }},
				{"GET", func() error {
					got, err := st.Get(ctx, "obj/a", int64(len(data)))
					if err == nil && !bytes.Equal(got, data) {
						return fmt.Errorf("got %d other bytes", len(got))
					}
					return err
				}},
				{"HEAD", func() error {
					info, err := st.Stat(ctx, "obj/a")
					if err == nil && info.Size != int64(len(data)) {
						return fmt.Errorf("size %d", info.Size)
					}
					return err
				}},
				{"LIST", func() error {
					list, err := st.List(ctx, "obj/")
					if err == nil && len(list) != 1 {
						return fmt.Errorf("listed %d", len(list))
					}
					return err
				}},
				{"DELETE", func() error { return st.Delete(ctx, "obj/a") }},
			} {
				method, times := op.method, f.times
				if method == "LIST" {
					method = "GET"
				}
				if f.bodies && method != "GET" {
					times = 0 // no body to cut: run the operation unharmed
				}
				p.SetRules()
				if times > 0 {
					p.SetRules(s3test.Rule{Method: method, Times: times, Fault: f.fault, Delay: f.delay})
				}
				before := p.Injected()
				start := time.Now()
				require.NoError(t, op.run(), op.method)
				assert.Equal(t, int64(times), p.Injected()-before, "%s: faults injected", op.method)
				assert.Less(t, time.Since(start), 4*time.Second, op.method)
			}
		})
	}
}

// TestFaultsPersistent: a fault that never ends gives a clear error after
// MaxAttempts tries — never success, never a hang, never "not found".
func TestFaultsPersistent(t *testing.T) {
	ctx := t.Context()
	st, p := faulty(t, func(o *s3.Options) { o.MaxAttempts = 3 })
	data := []byte("some object bytes")
	require.NoError(t, st.Put(ctx, "k", bytes.NewReader(data), int64(len(data))))

	for _, f := range []s3test.Fault{s3test.Status500, s3test.SlowDown, s3test.Reset, s3test.Truncate} {
		p.SetRules(s3test.Rule{Fault: f})
		before := p.Requests()
		got, err := st.Get(ctx, "k", 100)
		require.Error(t, err, f)
		assert.Nil(t, got, f)
		assert.NotErrorIs(t, err, bistro.ErrNotFound, f)
		t.Logf("%s: %v", f, err)
		switch f {
		case s3test.Truncate:
			// Each of the 3 tries is one GET whose body is cut.
			assert.Equal(t, int64(3), p.Requests()-before, f)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		case s3test.Reset:
			// net/http itself resends an idempotent request once when a
			// reused connection is reset before any response.
			assert.InDelta(t, 4.5, float64(p.Requests()-before), 1.5, "%s: MaxAttempts tries of the GET", f)
		default:
			assert.Equal(t, int64(3), p.Requests()-before, "%s: MaxAttempts tries of the GET", f)
		}
		if f != s3test.Truncate {
			assert.Error(t, st.Put(ctx, "k", strings.NewReader("new"), 3), f)
		}
	}
	p.SetRules()
	got, err := st.Get(ctx, "k", 100)
	require.NoError(t, err)
	assert.Equal(t, data, got, "failed puts stored nothing")
}

// TestStallHonoursTimeout: a server that sends half a body and then nothing
// makes Get fail at Options.Timeout, with the deadline in the error.
func TestStallHonoursTimeout(t *testing.T) {
	ctx := t.Context()
	st, p := faulty(t, func(o *s3.Options) { o.Timeout = 500 * time.Millisecond })
	data := bytes.Repeat([]byte{7}, 64<<10)
	require.NoError(t, st.Put(ctx, "k", bytes.NewReader(data), int64(len(data))))
	p.SetRules(s3test.Rule{Method: "GET", Fault: s3test.Stall})
	start := time.Now()
	got, err := st.Get(ctx, "k", 1<<20)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Nil(t, got)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, elapsed, 2*time.Second, "Get returned at its timeout")

	// The caller's own deadline, shorter than Timeout, wins too.
	p.SetRules(s3test.Rule{Method: "HEAD", Fault: s3test.Slow, Delay: 10 * time.Second})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = st.Stat(short, "k")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}

// TestLyingServer: a server that says an object is small and then sends an
// endless body cannot make Get read more than max+1 bytes.
func TestLyingServer(t *testing.T) {
	ctx := t.Context()
	st, p := faulty(t, nil)
	data := bytes.Repeat([]byte{1}, 1000)
	require.NoError(t, st.Put(ctx, "k", bytes.NewReader(data), int64(len(data))))

	p.SetRules(s3test.Rule{Fault: s3test.Lie})
	start := time.Now()
	got, err := st.Get(ctx, "k", 4096)
	require.ErrorIs(t, err, bistro.ErrTooLarge)
	assert.Nil(t, got)
	assert.Less(t, time.Since(start), 2*time.Second)
	// What the proxy pushed is what fits in socket buffers past our cap,
	// far from the endless body it offered.
	t.Logf("the liar sent %d bytes for a cap of 4096", p.LieBytes())
	assert.Less(t, p.LieBytes(), int64(16<<20))

	// A server whose HEAD says 1 byte but whose GET announces the truth is
	// refused without reading the body.
	p.SetRules(s3test.Rule{Method: "HEAD", Fault: s3test.Lie})
	_, err = st.Get(ctx, "k", 10)
	require.ErrorIs(t, err, bistro.ErrTooLarge)
	got, err = st.Get(ctx, "k", 1000)
	require.NoError(t, err, "a truthful GET within the cap is fine")
	assert.Equal(t, data, got)
}

// TestTamperCaughtByHashes: a server that serves other bytes to one reader
// is caught by the hash of what each reader got, and the protocol's decoder
// refuses the tampered slice: its signature no longer verifies.
func TestTamperCaughtByHashes(t *testing.T) {
	ctx := t.Context()
	honest, p := faulty(t, nil)
	direct := newStoreNamed(t, honest.Bucket())

	params := bistro.DefaultParams(1)
	layout := bistro.Layout{{Name: "w", Shape: []int{32, 8}}, {Name: "b", Shape: []int{8}}}
	seed := sha256.Sum256([]byte("seed block"))
	idx, err := bistro.Slices{Fraction: params.SliceFraction, Run: params.SliceRun}.Select(seed, layout)
	require.NoError(t, err)
	miner, err := bistro.KeypairFromURI("//Alice")
	require.NoError(t, err)
	vals := make([][]float32, len(idx))
	for t := range idx {
		vals[t] = make([]float32, len(idx[t]))
		for i := range vals[t] {
			vals[t][i] = 0.001 * float32(i+1)
		}
	}
	f := &bistro.File{Kind: bistro.KindSlice, NetUID: params.NetUID, Window: 7, Params: params.Digest(),
		Base: sha256.Sum256([]byte("base")), Seed: seed, Tensors: vals}
	file, err := bistro.Encode(f, layout, miner)
	require.NoError(t, err)
	key := bistro.SliceKey(params.NetUID, 7, miner.Hotkey())
	require.NoError(t, direct.Put(ctx, key, bytes.NewReader(file), int64(len(file))))

	// The proxy flips the lowest bit of the last float for its reader only.
	p.SetRules(s3test.Rule{Method: "GET", Fault: s3test.Tamper, Transform: func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)-4] ^= 1
		return b
	}})
	expect := &bistro.Expect{Kind: bistro.KindSlice, Params: &params, Window: 7, Layout: layout, Indices: idx}
	a, ha, err := bistro.Fetch(ctx, direct, key, expect.MaxFileBytes())
	require.NoError(t, err)
	b, hb, err := bistro.Fetch(ctx, honest, key, expect.MaxFileBytes())
	require.NoError(t, err)
	require.Len(t, b, len(a))
	assert.NotEqual(t, ha, hb, "the two readers got different bytes, and their hashes say so")

	got, err := bistro.Decode(a, expect)
	require.NoError(t, err)
	assert.Equal(t, f.PayloadHash(layout), got.PayloadHash(layout))
	_, err = bistro.Decode(b, expect)
	require.ErrorIs(t, err, bistro.ErrBadSignature, "the tampered slice fails its signature")
}

// TestCancelDuringFaults: cancelling the caller's context ends a Get that is
// waiting between retries or on a slow server, promptly.
func TestCancelDuringFaults(t *testing.T) {
	st, p := faulty(t, func(o *s3.Options) {
		o.BaseDelay, o.MaxBackoff, o.MaxAttempts = time.Second, 5*time.Second, 10
	})
	require.NoError(t, st.Put(t.Context(), "k", strings.NewReader("v"), 1))
	for _, r := range []s3test.Rule{{Fault: s3test.Status500}, {Fault: s3test.Slow, Delay: 10 * time.Second}} {
		p.SetRules(r)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(150*time.Millisecond, cancel)
		start := time.Now()
		_, err := st.Get(ctx, "k", 10)
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.Canceled), "%s: %v", r.Fault, err)
		assert.Less(t, time.Since(start), time.Second, r.Fault)
		cancel()
	}
}
