package s3

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

// TestPublicDialRefusesPrivate: the client Buckets uses refuses to connect to
// a private address even when the endpoint passed the name rule (a public
// name that resolves to 127.0.0.1 is the same dial), and the refusal is not
// retried.
func TestPublicDialRefusesPrivate(t *testing.T) {
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer ts.Close()

	o := Options{Bucket: "bucket", Endpoint: ts.URL, PathStyle: true, Anonymous: true}.withDefaults()
	st, err := newStore(t.Context(), o, newHTTPClient(o, true))
	require.NoError(t, err)
	start := time.Now()
	_, err = st.Get(t.Context(), "k", 10)
	require.ErrorIs(t, err, bistro.ErrEndpoint)
	assert.Less(t, time.Since(start), time.Second, "not retried")
	assert.Zero(t, hits.Load(), "no request reached the private address")

	// The same store on an ordinary client reaches it.
	st, err = newStore(t.Context(), o, newHTTPClient(o, false))
	require.NoError(t, err)
	_, err = st.Stat(t.Context(), "k")
	require.NoError(t, err)
	assert.Positive(t, hits.Load())
}

// TestNoRedirects: a server that redirects is not followed: its answer is
// an error, and the target of the redirect gets no request.
func TestNoRedirects(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	o := Options{Bucket: "bucket", Endpoint: redirector.URL, PathStyle: true, Anonymous: true, MaxAttempts: 1}.withDefaults()
	st, err := newStore(t.Context(), o, newHTTPClient(o, false))
	require.NoError(t, err)
	_, err = st.Get(t.Context(), "k", 10)
	require.Error(t, err)
	_, err = st.List(t.Context(), "")
	require.Error(t, err)
	assert.Zero(t, targetHits.Load())
}

func TestBackoff(t *testing.T) {
	o := Options{BaseDelay: 100 * time.Millisecond, MaxBackoff: time.Second}
	for attempt, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 40: time.Second,
	} {
		for range 20 {
			d := backoff(o, attempt)
			assert.GreaterOrEqual(t, d, want/2, attempt)
			assert.LessOrEqual(t, d, want, attempt)
		}
	}
}

func TestRangeTotal(t *testing.T) {
	for cr, want := range map[string]int64{"bytes 0-9/10": 10, "bytes 0-0/1": 1, "bytes 0-99/12345": 12345} {
		n, ok := rangeTotal(cr)
		assert.True(t, ok, cr)
		assert.Equal(t, want, n, cr)
	}
	for _, cr := range []string{"", "bytes 0-9/*", "items 0-9/10", "bytes 0-9/-1", "bytes 0-9"} {
		_, ok := rangeTotal(cr)
		assert.False(t, ok, cr)
	}
}
