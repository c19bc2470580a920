package objio

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stuck returns (0, nil) forever.
type stuck struct{}

func (stuck) Read([]byte) (int, error) { return 0, nil }

func TestCopyExact(t *testing.T) {
	ctx := t.Context()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		r    io.Reader
		size int64
		want error // nil: success
	}{
		{"exact", ctx, strings.NewReader("hello"), 5, nil},
		{"empty", ctx, strings.NewReader(""), 0, nil},
		{"one byte reads", ctx, iotest.OneByteReader(strings.NewReader("hello")), 5, nil},
		{"data with EOF", ctx, iotest.DataErrReader(strings.NewReader("hello")), 5, nil},
		{"short", ctx, strings.NewReader("hell"), 5, ErrSize},
		{"long", ctx, strings.NewReader("hello!"), 5, ErrSize},
		{"negative", ctx, strings.NewReader(""), -1, ErrSize},
		{"no progress", ctx, stuck{}, 5, io.ErrNoProgress},
		{"no progress at the end", ctx, io.MultiReader(strings.NewReader("hello"), stuck{}), 5, io.ErrNoProgress},
		{"read error", ctx, iotest.ErrReader(io.ErrClosedPipe), 5, io.ErrClosedPipe},
		{"cancelled", cancelled, strings.NewReader("hello"), 5, context.Canceled},
		{"cancelled empty", cancelled, strings.NewReader(""), 0, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			err := CopyExact(tc.ctx, &w, tc.r, tc.size, make([]byte, 2))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "hello"[:tc.size], w.String())
		})
	}
}

func TestReadExactBoundsAllocation(t *testing.T) {
	// A declared size of 1 TiB with a 5-byte reader fails without allocating it.
	_, err := ReadExact(t.Context(), strings.NewReader("hello"), 1<<40, 1<<10)
	require.ErrorIs(t, err, ErrSize)
	b, err := ReadExact(t.Context(), strings.NewReader("hello"), 5, 1<<10)
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), b)
}
