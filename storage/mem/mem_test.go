package mem_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/storage/storagetest"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) bistro.Storage { return mem.New() })
}

func TestContractOpen(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) bistro.Storage {
		s, err := bistro.Open(t.Context(), "mem://contract-"+strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
		require.NoError(t, err)
		return s
	})
}

func TestOpenSharesByName(t *testing.T) {
	ctx := t.Context()
	a, err := bistro.Open(ctx, "mem://net1")
	require.NoError(t, err)
	b, err := bistro.Open(ctx, "mem://net1")
	require.NoError(t, err)
	c, err := bistro.Open(ctx, "mem://net2")
	require.NoError(t, err)
	require.NoError(t, a.Put(ctx, "k", strings.NewReader("v"), 1))
	got, err := b.Get(ctx, "k", 10)
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), got)
	assert.Same(t, mem.Named("net1"), a)
	_, err = c.Get(ctx, "k", 10)
	assert.ErrorIs(t, err, bistro.ErrNotFound)
	assert.Contains(t, bistro.Drivers(), mem.Scheme)
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"mem://", "mem://x/y", "mem://x?a=b", "mem://u@x", "mem:x"} {
		_, err := bistro.Open(t.Context(), u)
		assert.Error(t, err, u)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func TestForgedClock(t *testing.T) {
	ctx := t.Context()
	s := mem.New()
	forged := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	s.SetClock(fixedClock(forged))
	require.NoError(t, s.Put(ctx, "k", strings.NewReader("v"), 1))
	info, err := s.Stat(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, forged, info.Modified)
	list, err := s.List(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, forged, list[0].Modified)

	s.SetClock(nil)
	require.NoError(t, s.Put(ctx, "k", strings.NewReader("v"), 1))
	info, err = s.Stat(ctx, "k")
	require.NoError(t, err)
	assert.NotEqual(t, forged, info.Modified)
}

func TestFaults(t *testing.T) {
	ctx := t.Context()
	s := mem.New()
	require.NoError(t, s.Put(ctx, "a/old", strings.NewReader("old"), 3))
	errDisk := errors.New("disk full")
	s.SetFaults(mem.Faults{
		Put: func(_ context.Context, key string) error {
			if strings.HasPrefix(key, "a/") {
				return errDisk
			}
			return nil
		},
		Get: func(_ context.Context, key string, data []byte) ([]byte, error) {
			if key == "lie" {
				return []byte("forged, and longer than the cap"), nil
			}
			return data, nil
		},
		Stat:   func(context.Context, string) error { return errDisk },
		List:   func(context.Context, string) error { return errDisk },
		Delete: func(context.Context, string) error { return errDisk },
	})
	err := s.Put(ctx, "a/old", strings.NewReader("new"), 3)
	require.ErrorIs(t, err, errDisk)
	require.NoError(t, s.Put(ctx, "b", strings.NewReader("b"), 1))
	require.NoError(t, s.Put(ctx, "lie", strings.NewReader("truth"), 5))

	got, err := s.Get(ctx, "a/old", 10)
	require.NoError(t, err)
	assert.Equal(t, []byte("old"), got, "a failed put changed the object")
	got, err = s.Get(ctx, "lie", 100)
	require.NoError(t, err)
	assert.Equal(t, []byte("forged, and longer than the cap"), got)
	_, err = s.Get(ctx, "lie", 5)
	assert.ErrorIs(t, err, bistro.ErrTooLarge, "the cap applies to what is served")
	_, err = s.Stat(ctx, "b")
	assert.ErrorIs(t, err, errDisk)
	_, err = s.List(ctx, "")
	assert.ErrorIs(t, err, errDisk)
	assert.ErrorIs(t, s.Delete(ctx, "b"), errDisk)

	s.SetFaults(mem.Faults{})
	got, err = s.Get(ctx, "b", 1)
	require.NoError(t, err)
	assert.Equal(t, []byte("b"), got)
}

func TestFaultDelayHonoursContext(t *testing.T) {
	s := mem.New()
	s.SetFaults(mem.Faults{Put: func(ctx context.Context, _ string) error {
		<-ctx.Done() // a dead endpoint: hang until the caller gives up
		return ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	err := s.Put(ctx, "k", bytes.NewReader([]byte("v")), 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = s.Stat(t.Context(), "k")
	assert.ErrorIs(t, err, bistro.ErrNotFound)
}

func ExampleStore() {
	ctx := context.Background()
	st, err := bistro.Open(ctx, "mem://example")
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
