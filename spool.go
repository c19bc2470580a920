package bistro

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// heldSlice is the bytes of a slice a validator fetched, kept for the
// window's later duties — the recomputation of a sampled miner, the lead's
// merge, the check of the lead's merge, the used copy the lead publishes,
// evidence of equivocation — in memory, or in a file of the validator's
// spool (ValidatorOptions.SpoolDir) so that the windows it holds (up to four,
// each miners × the slice size) do not live in RAM. Its values are read one
// tensor at a time from the verified bytes; nothing decoded is kept.
type heldSlice struct {
	mem  []byte // nil when spooled
	path string
	size int64
	offs []int64 // where tensor t's data starts; set by the decode
	// f is the spool file, open from the first read of a pass over the
	// tensors (a merge reads every tensor of every slice) to release.
	f *os.File
}

// errSpool marks a failure of the validator's own spool: a local fault,
// never evidence against a miner or a lead.
var errSpool = errors.New("spool")

// spoolSuffix names the spool's files; only such files, in directories named
// by a window number, are ever deleted from a spool.
const spoolSuffix = ".slice"

// holdSlice keeps b: in a file of window w's directory under dir, or in
// memory when dir is empty or the file cannot be written (a full disk costs
// memory, never a slice). It returns the error it fell back on, if any.
func holdSlice(dir string, w uint64, uid UID, b []byte) (*heldSlice, error) {
	h := &heldSlice{mem: b, size: int64(len(b))}
	if dir == "" {
		return h, nil
	}
	wd := filepath.Join(dir, strconv.FormatUint(w, 10))
	path := filepath.Join(wd, strconv.FormatUint(uint64(uid), 10)+spoolSuffix)
	err := os.MkdirAll(wd, 0o700)
	if err == nil {
		err = writeSpoolFile(path, b)
	}
	if err != nil {
		_ = os.Remove(path)
		return h, fmt.Errorf("%w: %w", errSpool, err)
	}
	return &heldSlice{path: path, size: int64(len(b))}, nil
}

func writeSpoolFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bytes returns the whole file.
func (h *heldSlice) bytes() ([]byte, error) {
	if h.mem != nil {
		return h.mem, nil
	}
	b, err := os.ReadFile(h.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSpool, err)
	}
	if int64(len(b)) != h.size {
		return nil, fmt.Errorf("%w: %s holds %d bytes, %d were kept", errSpool, h.path, len(b), h.size)
	}
	return b, nil
}

// readable reports whether the bytes are still there (a spool file may be
// deleted or cut under the validator).
func (h *heldSlice) readable() bool {
	if h == nil {
		return false
	}
	if h.mem != nil {
		return true
	}
	fi, err := os.Stat(h.path)
	return err == nil && fi.Size() == h.size
}

// read fills dst with tensor t's values (len(dst) of them, as decoded).
func (h *heldSlice) read(t int, dst []float32) error {
	if t < 0 || t >= len(h.offs) {
		return fmt.Errorf("%w: tensor %d of %d (not decoded)", errSpool, t, len(h.offs))
	}
	at, n := h.offs[t], int64(4*len(dst))
	if at < 0 || at+n > h.size {
		return fmt.Errorf("%w: tensor %d at %d+%d beyond %d bytes", errSpool, t, at, n, h.size)
	}
	out := f32Bytes(dst)
	if h.mem != nil {
		copy(out, h.mem[at:at+n])
		return nil
	}
	if h.f == nil {
		f, err := os.Open(h.path)
		if err != nil {
			return fmt.Errorf("%w: %w", errSpool, err)
		}
		h.f = f
	}
	if _, err := h.f.ReadAt(out, at); err != nil && !(errors.Is(err, io.EOF) && at+n == h.size) {
		return fmt.Errorf("%w: %s: %w", errSpool, h.path, err)
	}
	return nil
}

// release closes the spool file a pass of reads opened (a nil h or one in
// memory has none). Reads after it open the file again.
func (h *heldSlice) release() {
	if h != nil && h.f != nil {
		h.f.Close()
		h.f = nil
	}
}

// tensors reads every tensor (len(idx[t]) values each).
func (h *heldSlice) tensors(idx Indices) ([][]float32, error) {
	defer h.release()
	out := make([][]float32, len(idx))
	for t, ix := range idx {
		out[t] = make([]float32, len(ix))
		if err := h.read(t, out[t]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sweepSpool deletes the spool's window directories for which keep is
// false, and in them only the spool's own files (a spool pointed at a
// directory that holds anything else loses nothing else).
func sweepSpool(dir string, keep func(w uint64) bool) error {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var first error
	for _, e := range entries {
		w, perr := strconv.ParseUint(e.Name(), 10, 64)
		if perr != nil || !e.IsDir() || keep(w) {
			continue
		}
		wd := filepath.Join(dir, e.Name())
		files, err := os.ReadDir(wd)
		if err != nil {
			first = cmpErr(first, err)
			continue
		}
		for _, f := range files {
			if strings.HasSuffix(f.Name(), spoolSuffix) && f.Type().IsRegular() {
				first = cmpErr(first, os.Remove(filepath.Join(wd, f.Name())))
			}
		}
		if left, err := os.ReadDir(wd); err == nil && len(left) == 0 {
			if err := os.Remove(wd); err != nil && !errors.Is(err, os.ErrNotExist) {
				first = cmpErr(first, err)
			}
		}
	}
	return first
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// tensorOffsets returns where each layout tensor's data starts in b, a file
// Decode accepted.
func tensorOffsets(b []byte, e *Expect) ([]int64, error) {
	_, _, th, data, err := header(b, e.maxHeader())
	if err != nil {
		return nil, err
	}
	start := int64(len(b) - len(data))
	offs := make([]int64, len(e.Layout))
	for t, spec := range e.Layout {
		h, ok := th[spec.Name]
		if !ok || len(h.Offsets) != 2 {
			return nil, fmt.Errorf("%w: tensor %q missing", ErrWrongShape, spec.Name)
		}
		offs[t] = start + int64(h.Offsets[0])
	}
	return offs, nil
}
