// Package dir is a bistro.Storage kept in a directory: one file per object,
// the key being its path under the root. It is the embedded twin of a real
// bucket — for a participant on one machine, for a local network that should
// survive restarts, and for inspecting objects with ordinary tools.
//
// Importing it registers the "file" scheme for absolute paths:
//
//	import _ "github.com/bistro-go/bistro/storage/dir"
//
//	st, err := bistro.Open(ctx, "file:///var/lib/bistro/bucket")
//	if err != nil { … }
//	err = st.Put(ctx, "a/b", bytes.NewReader(data), int64(len(data)))
//	got, err := st.Get(ctx, "a/b", 1<<20)
//
// or, without the registry, dir.New("/var/lib/bistro/bucket").
//
// A Put writes a temporary file beside its target, syncs it, renames it over
// the target and syncs the directory, so a reader — or a process restarted
// after a crash — sees the old object or the new one, never part of one.
// Temporary names contain '~', which no valid key does, so List, Get and Stat
// never see them; Clean removes those a crash left behind.
//
// Since a file cannot also be a directory, a key cannot name an object while
// another key extends it with '/' (such as "a" and "a/b"): the second Put
// fails. The protocol's keys never do this.
package dir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/internal/objio"
)

// Scheme is the URL scheme this package registers: "file:///abs/path".
const Scheme = "file"

func init() {
	bistro.Register(Scheme, open)
}

// open is the driver for "file:///abs/path" URLs (host empty or
// "localhost", as RFC 8089 allows).
func open(_ context.Context, u *url.URL) (bistro.Storage, error) {
	if (u.Host != "" && u.Host != "localhost") || u.Opaque != "" || u.RawQuery != "" || u.User != nil ||
		!filepath.IsAbs(filepath.FromSlash(u.Path)) {
		return nil, fmt.Errorf("dir: url %q: want file:///absolute/path", u.Redacted())
	}
	return New(filepath.FromSlash(u.Path))
}

// tmpPrefix starts the name of every temporary file. '~' is outside the key
// alphabet, so no key's file can ever have such a name.
const tmpPrefix = "~tmp-"

// Store is a bucket in a directory. It is safe for concurrent use, also by
// several Stores (in one process or several) on the same directory. It never
// touches files outside its root: paths resolve through an os.Root, which
// refuses symbolic links that lead out.
type Store struct {
	root string

	// Test hooks (export_test.go): wrapWrite wraps the temporary file's
	// writer, beforeRename runs before the rename that publishes a Put.
	wrapWrite    func(key string, w io.Writer) io.Writer
	beforeRename func(key string) error
}

var _ bistro.Storage = (*Store)(nil)

// New returns a Store kept in the directory root, creating it if needed. It
// does not remove temporary files a crashed Put left: another Store may be
// writing them now. Call Clean for that when no Put is in flight.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("dir: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("dir: root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("dir: root: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("dir: root: %w", err)
	}
	r.Close()
	return &Store{root: abs}, nil
}

// Root returns the absolute path of the Store's directory.
func (s *Store) Root() string { return s.root }

// openRoot opens the root for one operation. Holding no descriptor between
// operations means a Store needs no Close.
func (s *Store) openRoot() (*os.Root, error) {
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	return r, nil
}

// check returns ctx's error, then the key's.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return bistro.ValidKey(key)
}

// missing reports whether err means that no file is at the path: absent, or
// a prefix of the path is a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// osErr wraps an error of the file system, adding bistro.ErrBadKey where the
// file system refuses a valid key's name (a segment too long for it).
func osErr(err error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) {
		return fmt.Errorf("%w: %w", bistro.ErrBadKey, err)
	}
	return err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Put stores size bytes read from r under key, replacing any object
// atomically. On any error — r yields fewer or more than size bytes, r or the
// disk fails, ctx ends — the old object, if any, is left as it was.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("dir: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("dir: put %q: %w: negative size %d", key, objio.ErrSize, size)
	}
	if err := s.put(ctx, key, r, size); err != nil {
		return fmt.Errorf("dir: put %q: %w", key, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()

	parent := path.Dir(key)
	tmp, f, err := createTemp(root, parent)
	if err != nil {
		return err
	}
	published := false
	defer func() {
		if !published {
			f.Close()
			root.Remove(tmp)
		}
	}()

	var w io.Writer = f
	if s.wrapWrite != nil {
		w = s.wrapWrite(key, w)
	}
	buf := copyBufs.Get().(*[]byte)
	err = objio.CopyExact(ctx, w, r, size, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return osErr(err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	// The last moment to give up: after the rename the object is stored.
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.beforeRename != nil {
		if err := s.beforeRename(key); err != nil {
			return err
		}
	}
	if err := root.Rename(tmp, key); err != nil {
		if fi, serr := root.Lstat(key); serr == nil && fi.IsDir() {
			return fmt.Errorf("key is a prefix of other objects: %w", err)
		}
		return osErr(err)
	}
	published = true
	if err := syncDir(root, parent); err != nil {
		return err
	}
	return nil
}

// createTemp creates a new temporary file in the directory parent, creating
// the directory (and syncing its new entries) if needed. A concurrent Delete
// may remove an emptied directory between the two steps; it then tries again.
func createTemp(root *os.Root, parent string) (string, *os.File, error) {
	for attempt := 0; ; attempt++ {
		if parent != "." {
			if err := mkdirs(root, parent); err != nil {
				return "", nil, err
			}
		}
		name := path.Join(parent, fmt.Sprintf("%s%016x", tmpPrefix, rand.Uint64()))
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		switch {
		case err == nil:
			return name, f, nil
		case attempt < 10 && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist)):
			continue
		default:
			return "", nil, fmt.Errorf("create: %w", osErr(err))
		}
	}
}

// mkdirs creates the directory dir and any missing parents. A new directory
// entry is only durable once its parent is synced, so it syncs the parents
// of what it created; an existing directory costs one stat.
func mkdirs(root *os.Root, dir string) error {
	if fi, err := root.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := root.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("a prefix of the key is an object: %w", err)
		}
		return fmt.Errorf("mkdir: %w", osErr(err))
	}
	for d := dir; d != "."; {
		d = path.Dir(d)
		if err := syncDir(root, d); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes the entries of a directory durable.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

// readChunk bounds one read, so that a long Get notices a cancelled ctx.
const readChunk = 4 << 20

// Get returns the object's bytes, or an error wrapping bistro.ErrTooLarge if
// it has more than max bytes. It learns the size from the open file before
// reading, and bounds the read by max too in case the file grows meanwhile.
func (s *Store) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, fmt.Errorf("dir: get: %w", err)
	}
	b, err := s.get(ctx, key, max)
	if err != nil {
		return nil, fmt.Errorf("dir: get %q: %w", key, err)
	}
	return b, nil
}

func (s *Store) get(ctx context.Context, key string, max int64) ([]byte, error) {
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if _, err := s.lstat(root, key); err != nil {
		return nil, err
	}
	f, err := root.Open(key)
	if err != nil {
		if missing(err) {
			return nil, bistro.ErrNotFound
		}
		return nil, osErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, bistro.ErrNotFound
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", bistro.ErrTooLarge, fi.Size(), max)
	}
	limit := max
	if limit < math.MaxInt64 {
		limit++ // one byte more than allowed tells a grown file apart
	}
	lr := &io.LimitedReader{R: f, N: limit}
	// One byte of room past the size lets the read that finds EOF need no
	// second allocation.
	b := make([]byte, 0, fi.Size()+1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, 4096)
		}
		n, err := lr.Read(b[len(b):min(cap(b), len(b)+readChunk)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: grew past cap %d while read", bistro.ErrTooLarge, max)
	}
	return b, nil
}

// lstat returns the info of the regular file that holds key, or
// bistro.ErrNotFound if there is none (a directory, a link or a device is
// not an object).
func (s *Store) lstat(root *os.Root, key string) (fs.FileInfo, error) {
	fi, err := root.Lstat(key)
	if err != nil {
		if missing(err) {
			return nil, bistro.ErrNotFound
		}
		return nil, osErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, bistro.ErrNotFound
	}
	return fi, nil
}

// Stat returns the object's size and its file's modification time.
func (s *Store) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	if err := check(ctx, key); err != nil {
		return bistro.ObjectInfo{}, fmt.Errorf("dir: stat: %w", err)
	}
	root, err := s.openRoot()
	if err != nil {
		return bistro.ObjectInfo{}, fmt.Errorf("dir: stat %q: %w", key, err)
	}
	defer root.Close()
	fi, err := s.lstat(root, key)
	if err != nil {
		return bistro.ObjectInfo{}, fmt.Errorf("dir: stat %q: %w", key, err)
	}
	return bistro.ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// List returns the objects whose keys start with prefix, sorted by key. It
// walks only the directories that can hold such keys, and skips every file
// whose path is not a valid key (temporary files among them).
func (s *Store) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dir: list: %w", err)
	}
	if err := bistro.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("dir: list: %w", err)
	}
	out, err := s.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("dir: list %q: %w", prefix, err)
	}
	return out, nil
}

func (s *Store) list(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	out := make([]bistro.ObjectInfo, 0)
	err = fs.WalkDir(root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			// Absent, or removed by a concurrent Delete: nothing to list.
			if missing(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p == start {
				return nil
			}
			if !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) || bistro.ValidKey(p) != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if missing(err) {
				return nil
			}
			return err
		}
		out = append(out, bistro.ObjectInfo{Key: p, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A walk orders names per directory ("a/b" before "a-c"); keys sort as strings.
	slices.SortFunc(out, func(a, b bistro.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the object and then the directories it leaves empty;
// deleting a missing key is not an error, and a key that is only a prefix of
// other objects deletes nothing.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("dir: delete: %w", err)
	}
	if err := s.delete(key); err != nil {
		return fmt.Errorf("dir: delete %q: %w", key, err)
	}
	return nil
}

func (s *Store) delete(key string) error {
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	if _, err := s.lstat(root, key); err != nil {
		if errors.Is(err, bistro.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := root.Remove(key); err != nil {
		if missing(err) {
			return nil
		}
		return osErr(err)
	}
	parent := path.Dir(key)
	if err := syncDir(root, parent); err != nil {
		return err
	}
	// Prune emptied directories, so that their names can become objects.
	// Remove refuses a directory that is not empty, which ends the climb.
	for d := parent; d != "."; d = path.Dir(d) {
		if root.Remove(d) != nil {
			break
		}
	}
	return nil
}

// Clean removes the temporary files that crashed Puts left, and then the
// directories left empty, and returns how many temporary files it removed.
// A Put in flight on the same directory, from this Store or another, would
// lose its temporary file and fail: call Clean when none is, for example when
// a participant starts.
func (s *Store) Clean(ctx context.Context) (int, error) {
	root, err := s.openRoot()
	if err != nil {
		return 0, fmt.Errorf("dir: clean: %w", err)
	}
	defer root.Close()
	removed := 0
	var dirs []string
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			if missing(err) {
				return nil
			}
			return err
		}
		switch {
		case d.IsDir():
			if p != "." {
				dirs = append(dirs, p)
			}
		case strings.HasPrefix(d.Name(), tmpPrefix):
			if err := root.Remove(p); err != nil && !missing(err) {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("dir: clean: %w", err)
	}
	// Deepest first, so a directory that held only empty ones goes too.
	for _, d := range slices.Backward(dirs) {
		root.Remove(d)
	}
	return removed, nil
}
