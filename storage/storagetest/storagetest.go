// Package storagetest is the contract suite of bistro.Storage. Every
// implementation — the in-memory and directory twins here, an S3 backend
// against a real server, a user's own — runs it from an ordinary test:
//
//	func TestContract(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) bistro.Storage {
//			return mem.New()
//		})
//	}
//
// The suite checks what the protocol relies on: byte-exact round trips, the
// read cap (bistro.ErrTooLarge), listing by prefix in key order, not-found
// errors matched with errors.Is (bistro.ErrNotFound), atomic replacement
// under concurrent readers and writers, context cancellation, refusal of
// invalid keys (bistro.ErrBadKey), and Puts whose reader disagrees with the
// declared size storing nothing.
package storagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

// Run runs the contract suite against the stores newStore makes. newStore is
// called once per subtest, on the subtest's goroutine, and must return an
// empty store that no other subtest uses; it may register its own teardown
// with t.Cleanup. Subtests run one after another.
func Run(t *testing.T, newStore func(t *testing.T) bistro.Storage) {
	t.Helper()
	for _, tc := range []struct {
		name string
		run  func(*testing.T, bistro.Storage)
	}{
		{"RoundTrip", testRoundTrip},
		{"GetCap", testGetCap},
		{"Stat", testStat},
		{"List", testList},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"Overwrite", testOverwrite},
		{"Concurrent", testConcurrent},
		{"Cancel", testCancel},
		{"BadKeys", testBadKeys},
		{"SizeMismatch", testSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			require.NotNil(t, s, "newStore returned nil")
			tc.run(t, s)
		})
	}
}

// payload returns n deterministic pseudo-random bytes for seed.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

func put(t *testing.T, s bistro.Storage, key string, data []byte) {
	t.Helper()
	require.NoError(t, s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))), "put %q", key)
}

func get(t *testing.T, s bistro.Storage, key string) []byte {
	t.Helper()
	b, err := s.Get(t.Context(), key, 1<<30)
	require.NoError(t, err, "get %q", key)
	return b
}

// requireMissing checks that key is not stored, by Get and by Stat.
func requireMissing(t *testing.T, s bistro.Storage, key string) {
	t.Helper()
	_, err := s.Get(t.Context(), key, 1<<30)
	require.ErrorIs(t, err, bistro.ErrNotFound, "get %q", key)
	_, err = s.Stat(t.Context(), key)
	require.ErrorIs(t, err, bistro.ErrNotFound, "stat %q", key)
}

// longKey is a valid key of exactly bistro.MaxKeyLen bytes, in segments short
// enough for any file system.
func longKey() string {
	var b strings.Builder
	for b.Len() < bistro.MaxKeyLen {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.Repeat("k", min(100, bistro.MaxKeyLen-b.Len())))
	}
	k := b.String()
	if strings.HasSuffix(k, "/") {
		k = k[:len(k)-1] + "k"
	}
	return k
}

func testRoundTrip(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	mib := payload(1, 1<<20)
	for _, tc := range []struct {
		name, key string
		data      []byte
		reader    func(io.Reader) io.Reader
	}{
		{"empty", "rt/empty", []byte{}, nil},
		{"one byte", "rt/one", []byte{0}, nil},
		{"small", "rt/small.safetensors", []byte("hello, bistro"), nil},
		{"1MiB", "rt/deep/er/mib", mib, nil},
		{"one byte reads", "rt/onebyte", payload(2, 1000), iotest.OneByteReader},
		{"data with EOF", "rt/dataerr", payload(3, 5000), iotest.DataErrReader},
		{"half reads", "rt/half", payload(4, 70000), iotest.HalfReader},
		{"max key length", longKey(), []byte("long"), nil},
		{"all key bytes", "rt/AZaz09._-/x", []byte("alphabet"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.Clone(tc.data)
			var r io.Reader = bytes.NewReader(src)
			if tc.reader != nil {
				r = tc.reader(r)
			}
			require.NoError(t, s.Put(ctx, tc.key, r, int64(len(src))))
			// The store must not keep the caller's buffer.
			for i := range src {
				src[i] ^= 0xff
			}
			got, err := s.Get(ctx, tc.key, int64(len(tc.data)))
			require.NoError(t, err)
			require.Len(t, got, len(tc.data))
			require.True(t, bytes.Equal(tc.data, got), "content differs")
			// Nor may it share the bytes it returned.
			for i := range got {
				got[i] ^= 0xff
			}
			again := get(t, s, tc.key)
			require.True(t, bytes.Equal(tc.data, again), "content changed by the caller's edit of a Get result")
		})
	}
}

func testGetCap(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	data := payload(5, 1000)
	put(t, s, "cap/obj", data)
	put(t, s, "cap/empty", nil)

	for _, tc := range []struct {
		key     string
		max     int64
		tooMany bool
	}{
		{"cap/obj", 999, true},
		{"cap/obj", 1, true},
		{"cap/obj", 0, true},
		{"cap/obj", 1000, false},
		{"cap/obj", 1001, false},
		{"cap/obj", 1 << 40, false},
		{"cap/empty", 0, false},
	} {
		got, err := s.Get(ctx, tc.key, tc.max)
		if tc.tooMany {
			require.ErrorIs(t, err, bistro.ErrTooLarge, "%s max %d", tc.key, tc.max)
			assert.NotErrorIs(t, err, bistro.ErrNotFound)
			assert.Nil(t, got)
			continue
		}
		require.NoError(t, err, "%s max %d", tc.key, tc.max)
		if tc.key == "cap/obj" {
			assert.Equal(t, data, got)
		} else {
			assert.Empty(t, got)
		}
	}
	// A missing key is not found, whatever the cap.
	_, err := s.Get(ctx, "cap/missing", 0)
	require.ErrorIs(t, err, bistro.ErrNotFound)
	assert.NotErrorIs(t, err, bistro.ErrTooLarge)
}

func testStat(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	put(t, s, "stat/obj", payload(6, 12345))
	put(t, s, "stat/empty", nil)
	for key, size := range map[string]int64{"stat/obj": 12345, "stat/empty": 0} {
		info, err := s.Stat(ctx, key)
		require.NoError(t, err, key)
		assert.Equal(t, key, info.Key)
		assert.Equal(t, size, info.Size, key)
		assert.False(t, info.Modified.IsZero(), "%s: zero Modified", key)
	}
}

func testList(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	groups := []string{"list/a/", "list/ab/", "list/b/", "other/x/y/"}
	sizes := map[string]int64{}
	for i := range 300 {
		sizes[fmt.Sprintf("%s%03d", groups[i%len(groups)], i)] = int64(i % 7)
	}
	sizes["list/a-c"] = 3 // '-' sorts before '/': a trap for directory walks
	sizes["list/a.d/z"] = 4
	putAll(t, s, sizes)

	all := slices.Sorted(func(yield func(string) bool) {
		for k := range sizes {
			if !yield(k) {
				return
			}
		}
	})
	for _, prefix := range []string{
		"", "list/", "list", "list/a/", "list/a", "list/ab", "list/b/", "list/a/01",
		"list/a/000", "other/x/y/", "other/x", "nothing/", "nothing", "list/a/9",
	} {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		got, err := s.List(ctx, prefix)
		require.NoError(t, err, "list %q", prefix)
		keys := make([]string, len(got))
		for i, o := range got {
			keys[i] = o.Key
			assert.Equal(t, sizes[o.Key], o.Size, "size of %q", o.Key)
			assert.False(t, o.Modified.IsZero(), "zero Modified of %q", o.Key)
		}
		if len(want) == 0 {
			assert.Empty(t, keys, "list %q", prefix)
			continue
		}
		assert.Equal(t, want, keys, "list %q", prefix)
	}

	require.NoError(t, s.Delete(ctx, "list/a/000"))
	got, err := s.List(ctx, "list/a/00")
	require.NoError(t, err)
	for _, o := range got {
		assert.NotEqual(t, "list/a/000", o.Key, "deleted key listed")
	}
}

// putAll stores an object of each size under its key, from a few goroutines
// so that backends with slow writes stay fast.
func putAll(t *testing.T, s bistro.Storage, sizes map[string]int64) {
	t.Helper()
	ctx := t.Context()
	keys := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				data := bytes.Repeat([]byte{'x'}, int(sizes[k]))
				if !assert.NoError(t, s.Put(ctx, k, bytes.NewReader(data), sizes[k]), "put %q", k) {
					failed.Store(true)
				}
			}
		})
	}
	for k := range sizes {
		keys <- k
	}
	close(keys)
	wg.Wait()
	require.False(t, failed.Load(), "puts failed")
}

func testDelete(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	put(t, s, "del/obj", []byte("doomed"))
	put(t, s, "del/keep", []byte("kept"))
	put(t, s, "del/dir/child", []byte("child"))

	require.NoError(t, s.Delete(ctx, "del/obj"))
	requireMissing(t, s, "del/obj")
	list, err := s.List(ctx, "del/")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "del/dir/child", list[0].Key)
	assert.Equal(t, "del/keep", list[1].Key)

	require.NoError(t, s.Delete(ctx, "del/obj"), "second delete")
	require.NoError(t, s.Delete(ctx, "del/never"), "delete of a key never stored")
	// "del/dir" is only a prefix of an object: deleting it deletes nothing.
	require.NoError(t, s.Delete(ctx, "del/dir"))
	assert.Equal(t, []byte("child"), get(t, s, "del/dir/child"))

	// Deleting the only object under a prefix leaves the key space usable.
	require.NoError(t, s.Delete(ctx, "del/dir/child"))
	requireMissing(t, s, "del/dir/child")
	put(t, s, "del/dir/child", []byte("again"))
	assert.Equal(t, []byte("again"), get(t, s, "del/dir/child"))
	put(t, s, "del/obj", []byte("reborn"))
	assert.Equal(t, []byte("reborn"), get(t, s, "del/obj"))
}

func testNotFound(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	put(t, s, "nf/file", []byte("f"))
	put(t, s, "nf/dir/x", []byte("x"))
	for _, key := range []string{"missing", "nf/missing", "nf/file/below", "nf/dir", "nf", "nf/fil", "nf/file.x"} {
		_, err := s.Get(ctx, key, 1<<20)
		require.ErrorIs(t, err, bistro.ErrNotFound, "get %q", key)
		assert.NotErrorIs(t, err, bistro.ErrTooLarge, "get %q", key)
		assert.NotErrorIs(t, err, bistro.ErrBadKey, "get %q", key)
		_, err = s.Stat(ctx, key)
		require.ErrorIs(t, err, bistro.ErrNotFound, "stat %q", key)
		assert.NotErrorIs(t, err, bistro.ErrBadKey, "stat %q", key)
	}
}

func testOverwrite(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	long, short := payload(7, 100000), []byte("short")
	put(t, s, "ow/obj", long)
	put(t, s, "ow/obj", short)
	assert.Equal(t, short, get(t, s, "ow/obj"))
	info, err := s.Stat(ctx, "ow/obj")
	require.NoError(t, err)
	assert.Equal(t, int64(len(short)), info.Size)

	put(t, s, "ow/obj", long)
	assert.True(t, bytes.Equal(long, get(t, s, "ow/obj")))
	put(t, s, "ow/obj", nil)
	assert.Empty(t, get(t, s, "ow/obj"))

	list, err := s.List(ctx, "ow/")
	require.NoError(t, err)
	require.Len(t, list, 1, "an overwrite must not leave a second object")
	assert.Equal(t, int64(0), list[0].Size)
}

// versioned is a payload whose every byte is determined by its 16-byte
// header (writer, seq): a reader can tell a whole write from a mix of two.
func versioned(writer, seq uint64) []byte {
	n := 16 + int((writer*7919+seq*104729)%(16<<10))
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b[0:], writer)
	binary.LittleEndian.PutUint64(b[8:], seq)
	for i := 16; i < n; i++ {
		b[i] = versionedByte(writer, seq, i)
	}
	return b
}

func versionedByte(writer, seq uint64, i int) byte {
	return byte(writer*31 + seq*17 + uint64(i))
}

func checkVersioned(b []byte) error {
	if len(b) < 16 {
		return fmt.Errorf("torn object: %d bytes", len(b))
	}
	w, seq := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
	if w > 1000 || seq > 1000 || len(b) != len(versioned(w, seq)) {
		return fmt.Errorf("torn object: %d bytes, header (%d, %d)", len(b), w, seq)
	}
	for i := 16; i < len(b); i++ {
		if b[i] != versionedByte(w, seq, i) {
			return fmt.Errorf("torn object: %d bytes, header (%d, %d), byte %d differs", len(b), w, seq, i)
		}
	}
	return nil
}

func testConcurrent(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	const writers, readers, puts = 4, 3, 12
	var wg, writersWG sync.WaitGroup
	var done atomic.Bool
	for w := range uint64(writers) {
		writersWG.Go(func() {
			for seq := range uint64(puts) {
				key := "conc/shared"
				if seq%2 == 1 {
					key = fmt.Sprintf("conc/w%d", w)
				}
				data := versioned(w, seq)
				if !assert.NoError(t, s.Put(ctx, key, bytes.NewReader(data), int64(len(data)))) {
					return
				}
			}
		})
	}
	wg.Go(func() {
		writersWG.Wait()
		done.Store(true)
	})
	var reads atomic.Int64
	for r := range readers {
		wg.Go(func() {
			for i := 0; i < 20 || !done.Load(); i++ {
				key := "conc/shared"
				if i%2 == 1 {
					key = fmt.Sprintf("conc/w%d", (r+i)%writers)
				}
				b, err := s.Get(ctx, key, 1<<20)
				if errors.Is(err, bistro.ErrNotFound) {
					continue
				}
				if !assert.NoError(t, err, "get %q", key) || !assert.NoError(t, checkVersioned(b), "get %q", key) {
					return
				}
				reads.Add(1)
				// Pace the readers: spinning would starve the writers of
				// CPU on a small machine, and overlap needs no more reads.
				time.Sleep(100 * time.Microsecond)
				if i%8 == 0 {
					list, err := s.List(ctx, "conc/")
					if !assert.NoError(t, err) {
						return
					}
					assert.True(t, slices.IsSortedFunc(list, func(a, b bistro.ObjectInfo) int {
						return strings.Compare(a.Key, b.Key)
					}), "list not sorted")
					for _, o := range list {
						assert.NoError(t, bistro.ValidKey(o.Key), "listed %q", o.Key)
					}
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	t.Logf("%d whole reads", reads.Load())

	for w := range uint64(writers) {
		assert.Equal(t, versioned(w, puts-1), get(t, s, fmt.Sprintf("conc/w%d", w)), "writer %d's last put", w)
	}
	require.NoError(t, checkVersioned(get(t, s, "conc/shared")))
	list, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Len(t, list, writers+1, "stray objects after concurrent puts")
}

// cancelReader yields its data, cancelling a context once half is read.
type cancelReader struct {
	data   []byte
	off    int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if r.off >= len(r.data)/2 {
		r.cancel()
	}
	n := copy(p[:min(len(p), 4096)], r.data[r.off:])
	r.off += n
	return n, nil
}

func testCancel(t *testing.T, s bistro.Storage) {
	live := t.Context()
	old := []byte("old content")
	put(t, s, "cancel/old", old)

	ctx, cancel := context.WithCancel(live)
	cancel()
	data := []byte("new content")
	err := s.Put(ctx, "cancel/new", bytes.NewReader(data), int64(len(data)))
	require.ErrorIs(t, err, context.Canceled, "put")
	requireMissing(t, s, "cancel/new")
	err = s.Put(ctx, "cancel/old", bytes.NewReader(data), int64(len(data)))
	require.ErrorIs(t, err, context.Canceled, "put over an object")
	_, err = s.Get(ctx, "cancel/old", 1<<20)
	require.ErrorIs(t, err, context.Canceled, "get")
	_, err = s.Stat(ctx, "cancel/old")
	require.ErrorIs(t, err, context.Canceled, "stat")
	_, err = s.List(ctx, "cancel/")
	require.ErrorIs(t, err, context.Canceled, "list")
	_, err = s.List(ctx, "")
	require.ErrorIs(t, err, context.Canceled, "list all")
	require.ErrorIs(t, s.Delete(ctx, "cancel/old"), context.Canceled, "delete")
	assert.Equal(t, old, get(t, s, "cancel/old"), "a cancelled put or delete changed the object")

	// Cancelled while the body streams: nothing stored, the old object kept.
	big := payload(8, 256<<10)
	for _, key := range []string{"cancel/mid", "cancel/old"} {
		ctx, cancel := context.WithCancel(live)
		err = s.Put(ctx, key, &cancelReader{data: big, cancel: cancel}, int64(len(big)))
		cancel()
		require.Error(t, err, "put %q cancelled mid-stream", key)
		assert.ErrorIs(t, err, context.Canceled, "put %q cancelled mid-stream", key)
	}
	requireMissing(t, s, "cancel/mid")
	assert.Equal(t, old, get(t, s, "cancel/old"))
	list, err := s.List(live, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
}

// BadKeys are keys every Storage must refuse with bistro.ErrBadKey.
var BadKeys = []string{
	"", "/", "/a", "a/", "a//b", "../x", "a/../b", "a/..", "./a", "a/./b", ".", "..",
	"a b", "ä", "a\x00b", "a\nb", `a\b`, "a:b", "a~b", "a*b", "a?b", "%2e%2e", "a/b#c",
	strings.Repeat("a", bistro.MaxKeyLen+1),
	longKey() + "/k",
}

func testBadKeys(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	for _, key := range BadKeys {
		require.Error(t, bistro.ValidKey(key), "ValidKey accepts %q", key)
		err := s.Put(ctx, key, strings.NewReader("x"), 1)
		assert.ErrorIs(t, err, bistro.ErrBadKey, "put %q", key)
		_, err = s.Get(ctx, key, 1<<20)
		assert.ErrorIs(t, err, bistro.ErrBadKey, "get %q", key)
		_, err = s.Stat(ctx, key)
		assert.ErrorIs(t, err, bistro.ErrBadKey, "stat %q", key)
		assert.ErrorIs(t, s.Delete(ctx, key), bistro.ErrBadKey, "delete %q", key)
		if bistro.ValidPrefix(key) != nil {
			_, err = s.List(ctx, key)
			assert.ErrorIs(t, err, bistro.ErrBadKey, "list %q", key)
		}
	}
	list, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, list, "a bad key stored something")
}

func testSizeMismatch(t *testing.T, s bistro.Storage) {
	ctx := t.Context()
	old := []byte("old")
	put(t, s, "size/old", old)
	data := payload(9, 10000)
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		size int64
	}{
		{"short", func() io.Reader { return bytes.NewReader(data[:5000]) }, 10000},
		{"long", func() io.Reader { return bytes.NewReader(data) }, 5000},
		{"long by one", func() io.Reader { return bytes.NewReader(data) }, 9999},
		{"empty but not", func() io.Reader { return bytes.NewReader(data[:1]) }, 0},
		{"reader fails", func() io.Reader { return io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(errBoom)) }, 10000},
		{"negative size", func() io.Reader { return bytes.NewReader(nil) }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, s.Put(ctx, "size/new", tc.r(), tc.size))
			requireMissing(t, s, "size/new")
			require.Error(t, s.Put(ctx, "size/old", tc.r(), tc.size))
			assert.Equal(t, old, get(t, s, "size/old"), "a failed put changed the old object")
		})
	}
	list, err := s.List(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 1, "a failed put left an object")
}
