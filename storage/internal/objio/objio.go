// Package objio holds the byte-exact copy that every storage driver's Put
// needs: exactly size bytes from the caller's reader, ctx checked between
// reads, and an error when the reader yields fewer or more.
package objio

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrSize is wrapped by CopyExact when the reader yields fewer or more bytes
// than the size the caller declared.
var ErrSize = errors.New("reader size differs from declared size")

// maxEmptyReads bounds a reader that keeps returning (0, nil), as io does.
const maxEmptyReads = 100

// CopyExact copies exactly size bytes from r to w through buf (which must not
// be empty), checking ctx before each read. It returns an error wrapping
// ErrSize if r ends early or has more than size bytes (it reads one byte past
// size to find out), ctx.Err() if ctx ends, and a wrapped error of r or w.
func CopyExact(ctx context.Context, w io.Writer, r io.Reader, size int64, buf []byte) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrSize, size)
	}
	var n int64
	empty := 0
	for n < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf
		if rem := size - n; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		m, err := r.Read(chunk)
		if m > 0 {
			empty = 0
			if _, werr := w.Write(chunk[:m]); werr != nil {
				return fmt.Errorf("write: %w", werr)
			}
			n += int64(m)
		}
		switch {
		case err == io.EOF:
			if n < size {
				return fmt.Errorf("%w: reader ended after %d of %d bytes", ErrSize, n, size)
			}
		case err != nil:
			return fmt.Errorf("read: %w", err)
		case m == 0:
			if empty++; empty >= maxEmptyReads {
				return fmt.Errorf("read: %w", io.ErrNoProgress)
			}
		}
	}
	// The reader must be exhausted: one more byte means the caller's size
	// was wrong, and storing a prefix would silently truncate the object.
	var one [1]byte
	for empty = 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.Read(one[:])
		switch {
		case m > 0:
			return fmt.Errorf("%w: reader has more than %d bytes", ErrSize, size)
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("read: %w", err)
		}
		if empty++; empty >= maxEmptyReads {
			return fmt.Errorf("read: %w", io.ErrNoProgress)
		}
	}
}

// ReadExact reads exactly size bytes from r into a new slice, with the
// errors of CopyExact. It allocates at most prealloc bytes up front, so a
// lying size cannot make it allocate more than the reader actually yields.
func ReadExact(ctx context.Context, r io.Reader, size, prealloc int64) ([]byte, error) {
	w := &appender{b: make([]byte, 0, max(0, min(size, prealloc)))}
	buf := make([]byte, min(max(size, 1), 64<<10))
	if err := CopyExact(ctx, w, r, size, buf); err != nil {
		return nil, err
	}
	return w.b, nil
}

type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}
