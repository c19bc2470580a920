package s3_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/storage/s3/s3test"
)

// bigObject returns n deterministic pseudo-random bytes.
func bigObject(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// seekOnly is a ReadSeeker that cannot read at an offset.
type seekOnly struct{ r *bytes.Reader }

func (s seekOnly) Read(b []byte) (int, error)                { return s.r.Read(b) }
func (s seekOnly) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

// request is what the recording proxy saw of one request.
type request struct {
	method, query string
	header        http.Header
	length        int64
}

// recorder is a reverse proxy in front of the server that records every
// request's method, query and headers.
type recorder struct {
	mu   sync.Mutex
	seen []request
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.seen...)
}

// recorded returns a store of a new bucket reached through a recording proxy
// with 5 MiB parts, the direct store and the recorder.
func recorded(t *testing.T, tune func(o *s3.Options)) (*s3.Store, *s3.Store, *recorder) {
	t.Helper()
	direct := newStore(t)
	target, err := url.Parse(srv.Endpoint)
	require.NoError(t, err)
	rec := &recorder{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // SigV4 signs the Host
	}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, request{method: r.Method, query: r.URL.RawQuery, header: r.Header.Clone(), length: r.ContentLength})
		rec.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	o := srv.Options(direct.Bucket())
	o.Endpoint = hs.URL
	o.PartSize = s3.MinPartSize
	if tune != nil {
		tune(&o)
	}
	st, err := s3.New(t.Context(), o)
	require.NoError(t, err)
	return st, direct, rec
}

// assertNothing checks that key is absent and no multipart upload is pending.
func assertNothing(t *testing.T, st *s3.Store, key string) {
	t.Helper()
	_, err := st.Stat(t.Context(), key)
	assert.ErrorIs(t, err, bistro.ErrNotFound, "a failed Put left an object")
	pending, err := st.PendingUploads(t.Context())
	require.NoError(t, err)
	assert.Empty(t, pending, "a failed Put left a multipart upload")
}

// TestMultipartRoundTrip puts a 12 MiB object in 5 MiB parts from each kind
// of reader: three parts, 5, 5 and 2 MiB, and the object reads back
// byte-exact.
func TestMultipartRoundTrip(t *testing.T) {
	data := bigObject(12 << 20)
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"readerat", func() io.Reader { return bytes.NewReader(data) }},
		{"seeker", func() io.Reader { return seekOnly{bytes.NewReader(data)} }},
		{"stream", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }},
		{"stream-via-file", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, rec := recorded(t, func(o *s3.Options) {
				if tc.name == "stream-via-file" {
					o.BufferLimit = 1 << 20
				}
			})
			require.NoError(t, st.Put(t.Context(), "big/obj", tc.r(), int64(len(data))))
			got, err := st.Get(t.Context(), "big/obj", int64(len(data)))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "the object differs")
			var sizes []int64
			for _, r := range rec.requests() {
				if r.method == http.MethodPut && strings.Contains(r.query, "partNumber=") {
					sizes = append(sizes, r.length)
				}
			}
			assert.ElementsMatch(t, []int64{5 << 20, 5 << 20, 2 << 20}, sizes, "equal parts but the last")
			pending, err := st.PendingUploads(t.Context())
			require.NoError(t, err)
			assert.Empty(t, pending)
		})
	}
}

// TestMultipartPartRetried fails one UploadPart once: the retryer resends
// that part and the object is right.
func TestMultipartPartRetried(t *testing.T) {
	data := bigObject(12 << 20)
	st, p := faulty(t, func(o *s3.Options) { o.PartSize, o.Timeout = s3.MinPartSize, 30*time.Second })
	p.SetRules(s3test.Rule{Method: http.MethodPut, Path: "/big/obj", Every: 2, Times: 1, Fault: s3test.Status500})
	require.NoError(t, st.Put(t.Context(), "big/obj", bytes.NewReader(data), int64(len(data))))
	assert.EqualValues(t, 1, p.Injected())
	p.SetRules()
	got, err := st.Get(t.Context(), "big/obj", int64(len(data)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "the object differs")
}

// TestMultipartFailureAborts makes one part fail for good, and cancels ctx
// during an upload: Put fails, and neither an object nor a pending upload
// remains.
func TestMultipartFailureAborts(t *testing.T) {
	data := bigObject(12 << 20)
	t.Run("persistent", func(t *testing.T) {
		st, p := faulty(t, func(o *s3.Options) { o.PartSize, o.Timeout = s3.MinPartSize, 30*time.Second })
		// The first part goes through (and is stored), every other fails.
		p.SetRules(s3test.Rule{Method: http.MethodPut, Path: "/big/obj", Times: 1, Fault: s3test.Pass},
			s3test.Rule{Method: http.MethodPut, Path: "/big/obj", Fault: s3test.Status500})
		err := st.Put(t.Context(), "big/obj", bytes.NewReader(data), int64(len(data)))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), srv.SecretKey)
		p.SetRules()
		assertNothing(t, st, "big/obj")
	})
	t.Run("canceled", func(t *testing.T) {
		st, p := faulty(t, func(o *s3.Options) { o.PartSize, o.Timeout = s3.MinPartSize, 30*time.Second })
		p.SetRules(s3test.Rule{Method: http.MethodPut, Path: "/big/obj", Fault: s3test.Slow, Delay: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		err := st.Put(ctx, "big/obj", bytes.NewReader(data), int64(len(data)))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		p.SetRules()
		assertNothing(t, st, "big/obj")
	})
}

// TestMultipartShortReader declares more or fewer bytes than the reader
// has: Put fails before any upload starts, and nothing is stored.
func TestMultipartShortReader(t *testing.T) {
	data := bigObject(12 << 20)
	st, _, rec := recorded(t, nil)
	for _, r := range []io.Reader{
		bytes.NewReader(data[:len(data)-1]),
		struct{ io.Reader }{bytes.NewReader(data[:len(data)-1])},
		seekOnly{bytes.NewReader(data[:len(data)-1])},
	} {
		assert.Error(t, st.Put(t.Context(), "big/obj", r, int64(len(data))))
	}
	assert.Error(t, st.Put(t.Context(), "big/obj", struct{ io.Reader }{bytes.NewReader(data)}, int64(len(data)-1)))
	for _, r := range rec.requests() {
		assert.NotEqual(t, http.MethodPut, r.method, "a part was sent for a reader of the wrong length")
	}
	assertNothing(t, st, "big/obj")
}

// TestNoFlexibleChecksums checks that PutObject and UploadPart carry none of
// the SDK's default flexible checksums, which Cloudflare R2 rejects: no
// x-amz-checksum-* or x-amz-sdk-checksum-algorithm header, no aws-chunked
// body with trailers.
func TestNoFlexibleChecksums(t *testing.T) {
	st, _, rec := recorded(t, nil)
	small := []byte("a small slice")
	require.NoError(t, st.Put(t.Context(), "small", bytes.NewReader(small), int64(len(small))))
	big := bigObject(11 << 20)
	require.NoError(t, st.Put(t.Context(), "big", struct{ io.Reader }{bytes.NewReader(big)}, int64(len(big))))
	puts := 0
	for _, r := range rec.requests() {
		if r.method != http.MethodPut && r.method != http.MethodPost {
			continue
		}
		puts++
		for name := range r.header {
			n := strings.ToLower(name)
			assert.False(t, strings.HasPrefix(n, "x-amz-checksum-"), "%s %s: header %s", r.method, r.query, name)
			assert.NotEqual(t, "x-amz-sdk-checksum-algorithm", n, "%s %s", r.method, r.query)
			assert.NotEqual(t, "x-amz-trailer", n, "%s %s", r.method, r.query)
			assert.NotEqual(t, "x-amz-decoded-content-length", n, "%s %s", r.method, r.query)
		}
		assert.NotContains(t, r.header.Get("Content-Encoding"), "aws-chunked", "%s %s", r.method, r.query)
		assert.NotContains(t, r.header.Get("X-Amz-Content-Sha256"), "STREAMING", "%s %s", r.method, r.query)
	}
	assert.Equal(t, 1+1+3+1, puts, "PutObject, create, three parts, complete")
}

// TestPartSizeURL opens a store by URL with part_size and sees a multipart
// upload of equal parts.
func TestPartSizeURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	name := bucketName(t)
	direct := newStoreNamed(t, name)
	require.NoError(t, direct.CreateBucket(t.Context()))
	st, err := bistro.Open(t.Context(), "s3://"+name+"?endpoint="+url.QueryEscape(srv.Endpoint)+
		"&region="+srv.Region+"&path_style=1&part_size=5MiB&part_concurrency=2")
	require.NoError(t, err)
	data := bigObject(11 << 20)
	require.NoError(t, st.Put(t.Context(), "big", bytes.NewReader(data), int64(len(data))))
	got, err := direct.Get(t.Context(), "big", int64(len(data)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
}
