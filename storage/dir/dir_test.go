package dir_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/storage/storagetest"
)

func newStore(t *testing.T) *dir.Store {
	t.Helper()
	s, err := dir.New(t.TempDir())
	require.NoError(t, err)
	return s
}

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) bistro.Storage { return newStore(t) })
}

func TestContractOpen(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) bistro.Storage {
		s, err := bistro.Open(t.Context(), "file://"+filepath.ToSlash(t.TempDir()))
		require.NoError(t, err)
		return s
	})
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	a, err := bistro.Open(ctx, "file://"+root)
	require.NoError(t, err)
	b, err := bistro.Open(ctx, "file://localhost"+root+"/")
	require.NoError(t, err)
	require.NoError(t, a.Put(ctx, "x/y", strings.NewReader("v"), 1))
	got, err := b.Get(ctx, "x/y", 1)
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), got)
	onDisk, err := os.ReadFile(filepath.Join(root, "x", "y"))
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), onDisk, "a key is its file's path under the root")

	for _, u := range []string{"file://relative/path", "file:relative", "file://host/abs", "file://" + root + "?q=1", "file://"} {
		_, err := bistro.Open(ctx, u)
		assert.Error(t, err, u)
	}
}

func TestNewCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := dir.New(root)
	require.NoError(t, err)
	assert.Equal(t, root, s.Root())
	assert.DirExists(t, root)

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = dir.New(file)
	assert.Error(t, err, "a root that is a file")
	_, err = dir.New("")
	assert.Error(t, err)
}

// failAfter lets n bytes through and then fails every write, as a full disk.
type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		m, _ := f.w.Write(p[:f.n])
		f.n = 0
		return m, &fs.PathError{Op: "write", Path: "tmp", Err: syscall.ENOSPC}
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var tmp []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), dir.TmpPrefix) {
			tmp = append(tmp, p)
		}
		return err
	}))
	return tmp
}

func TestFullDiskKeepsOldObject(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	old := bytes.Repeat([]byte("old "), 1000)
	require.NoError(t, s.Put(ctx, "w/obj", bytes.NewReader(old), int64(len(old))))

	s.SetWriteHook(func(_ string, w io.Writer) io.Writer { return &failAfter{w: w, n: 3000} })
	data := bytes.Repeat([]byte("new!"), 100000)
	for _, key := range []string{"w/obj", "w/fresh", "w/deep/fresh"} {
		err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
		require.ErrorIs(t, err, syscall.ENOSPC, key)
	}
	got, err := s.Get(ctx, "w/obj", 1<<20)
	require.NoError(t, err)
	assert.Equal(t, old, got)
	_, err = s.Stat(ctx, "w/fresh")
	assert.ErrorIs(t, err, bistro.ErrNotFound)
	assert.Empty(t, tempFiles(t, s.Root()), "a failed put left its temporary file")

	errRename := errors.New("rename refused")
	s.SetWriteHook(nil)
	s.SetBeforeRename(func(string) error { return errRename })
	require.ErrorIs(t, s.Put(ctx, "w/obj", bytes.NewReader(data), int64(len(data))), errRename)
	got, err = s.Get(ctx, "w/obj", 1<<20)
	require.NoError(t, err)
	assert.Equal(t, old, got)
	assert.Empty(t, tempFiles(t, s.Root()))

	s.SetBeforeRename(nil)
	require.NoError(t, s.Put(ctx, "w/obj", bytes.NewReader(data), int64(len(data))))
	got, err = s.Get(ctx, "w/obj", 1<<20)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
}

// crashEnv names the directory a re-executed test binary writes into before
// it is killed.
const crashEnv = "BISTRO_DIR_CRASH_ROOT"

// stallReader yields half its data, then announces it on stdout and blocks:
// the parent kills the process there, mid-write.
type stallReader struct {
	data []byte
	off  int
}

func (r *stallReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data)/2 {
		fmt.Println("half written")
		select {}
	}
	n := copy(p, r.data[r.off:len(r.data)/2])
	r.off += n
	return n, nil
}

func crashPayload() []byte { return bytes.Repeat([]byte("crash!"), 100000) }

// TestCrashChild is the child half of TestCrashMidPut; alone it does nothing.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashEnv)
	if root == "" {
		t.Skip("run by TestCrashMidPut")
	}
	s, err := dir.New(root)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	data := crashPayload()
	key := os.Getenv(crashEnv + "_KEY")
	err = s.Put(context.Background(), key, &stallReader{data: data}, int64(len(data)))
	fmt.Println("put returned:", err) // unreachable while the reader stalls
	os.Exit(2)
}

func TestCrashMidPut(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	old := []byte("the old object")
	require.NoError(t, s.Put(ctx, "c/obj", bytes.NewReader(old), int64(len(old))))

	for _, key := range []string{"c/obj", "c/new", "c/deeper/new"} {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+s.Root(), crashEnv+"_KEY="+key)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(out).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "half written\n", line)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err = cmd.Wait()
		require.Error(t, err, "the child was killed")

		tmp := tempFiles(t, s.Root())
		require.Len(t, tmp, 1, "the crash left one temporary file")
		fi, err := os.Stat(tmp[0])
		require.NoError(t, err)
		require.Equal(t, int64(len(crashPayload())/2), fi.Size(), "killed after writing half")

		// Nothing partial is visible, and the old object is intact.
		got, err := s.Get(ctx, "c/obj", 1<<20)
		require.NoError(t, err, key)
		assert.Equal(t, old, got, key)
		for _, k := range []string{"c/new", "c/deeper/new"} {
			_, err = s.Stat(ctx, k)
			assert.ErrorIs(t, err, bistro.ErrNotFound, k)
		}
		list, err := s.List(ctx, "")
		require.NoError(t, err)
		require.Len(t, list, 1, key)
		assert.Equal(t, "c/obj", list[0].Key)

		n, err := s.Clean(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Empty(t, tempFiles(t, s.Root()))
	}
	// Clean pruned the directory the crashed Put had made.
	assert.NoDirExists(t, filepath.Join(s.Root(), "c", "deeper"))

	data := crashPayload()
	require.NoError(t, s.Put(ctx, "c/obj", bytes.NewReader(data), int64(len(data))))
	got, err := s.Get(ctx, "c/obj", 1<<20)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
}

func TestStaleTempIgnored(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	require.NoError(t, s.Put(ctx, "a/b", strings.NewReader("b"), 1))
	stale := filepath.Join(s.Root(), "a", dir.TmpPrefix+"0123456789abcdef")
	require.NoError(t, os.WriteFile(stale, []byte("partial"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(s.Root(), "a", "bad name"), []byte("stray"), 0o644))

	list, err := s.List(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "a/b", list[0].Key)
	list, err = s.List(ctx, "a/~")
	assert.ErrorIs(t, err, bistro.ErrBadKey)
	assert.Nil(t, list)

	n, err := s.Clean(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NoFileExists(t, stale)
	assert.FileExists(t, filepath.Join(s.Root(), "a", "bad name"), "Clean removes only temporary files")
}

func TestGetCapDoesNotReadHugeFile(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	// A sparse 1 TiB file: reading it would take forever; its size says enough.
	f, err := os.Create(filepath.Join(s.Root(), "huge"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<40))
	require.NoError(t, f.Close())
	_, err = s.Get(ctx, "huge", 1<<20)
	require.ErrorIs(t, err, bistro.ErrTooLarge)
	info, err := s.Stat(ctx, "huge")
	require.NoError(t, err)
	assert.Equal(t, int64(1<<40), info.Size)
}

func TestLinksAndEscapes(t *testing.T) {
	ctx := t.Context()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	s := newStore(t)
	require.NoError(t, os.Symlink(outside, filepath.Join(s.Root(), "out")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.Root(), "link")))

	for _, key := range []string{"out/secret", "link"} {
		_, err := s.Get(ctx, key, 1<<20)
		assert.Error(t, err, key)
		_, err = s.Stat(ctx, key)
		assert.Error(t, err, key)
	}
	list, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, list, "links are not objects")

	assert.Error(t, s.Put(ctx, "out/secret", strings.NewReader("pwned"), 5), "a put through a link out of the root")
	// A Put over a link replaces the link itself, not what it points at.
	require.NoError(t, s.Put(ctx, "link", strings.NewReader("mine"), 4))
	got, err := s.Get(ctx, "link", 10)
	require.NoError(t, err)
	assert.Equal(t, []byte("mine"), got)
	got, err = os.ReadFile(filepath.Join(outside, "secret"))
	require.NoError(t, err)
	assert.Equal(t, []byte("secret"), got, "a Put escaped the root")
}

func TestKeyPrefixConflict(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	require.NoError(t, s.Put(ctx, "a", strings.NewReader("a"), 1))
	assert.Error(t, s.Put(ctx, "a/b", strings.NewReader("b"), 1), "a is a file")
	require.NoError(t, s.Put(ctx, "p/q", strings.NewReader("q"), 1))
	assert.Error(t, s.Put(ctx, "p", strings.NewReader("p"), 1), "p is a directory")
	assert.Empty(t, tempFiles(t, s.Root()))
	// Once p/q is deleted, its emptied directory goes and p can be an object.
	require.NoError(t, s.Delete(ctx, "p/q"))
	require.NoError(t, s.Put(ctx, "p", strings.NewReader("p"), 1))
}

func TestLongSegmentIsBadKey(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	// ValidKey caps segments at 255 bytes, the common file-name limit, so every
	// backend accepts the same keys.
	longest := strings.Repeat("s", 255)
	require.NoError(t, s.Put(ctx, "a/"+longest, strings.NewReader("x"), 1))
	key := strings.Repeat("s", 256)
	assert.ErrorIs(t, s.Put(ctx, key, strings.NewReader("x"), 1), bistro.ErrBadKey)
	_, err := s.Get(ctx, key, 10)
	assert.ErrorIs(t, err, bistro.ErrBadKey)
}

func ExampleNew() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "bucket")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)

	st, err := dir.New(root)
	if err != nil {
		panic(err)
	}
	data := []byte("slice bytes")
	if err := st.Put(ctx, "bistro/v1/1/7/hk.safetensors", bytes.NewReader(data), int64(len(data))); err != nil {
		panic(err)
	}
	got, err := st.Get(ctx, "bistro/v1/1/7/hk.safetensors", 1<<20)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(got))
	// Output: slice bytes
}
