package data_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train/data"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func opticsText(t *testing.T) []byte {
	t.Helper()
	path, err := data.DefaultOpticsPath()
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestOpticsPinned(t *testing.T) {
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 256, HeldOut: 8})
	require.NoError(t, err)
	assert.Equal(t, data.OpticsSHA256, ds.FileDigest().String())
	assert.Equal(t, uint64(567198/256-8), ds.Pages())
	assert.Equal(t, 8, ds.HeldOutPages())
	assert.Equal(t, 256, ds.PageLength())
	// The manifest digest of (Opticks, L = 256, 2207 training pages, 8 held
	// out): a test vector for SPEC.md.
	assert.Equal(t, "1bd7ff0ebf6bbadfad2960b62a72bfd8fc87e57eb01c7fd0dacb0e0654fe3cb8", ds.Digest().String())

	file, err := bistro.ParseHash(data.OpticsSHA256)
	require.NoError(t, err)
	assert.Equal(t, ds.Digest(), data.ManifestDigest(file, 567198, 256, 2207, 8))
	assert.NotEqual(t, ds.Digest(), data.ManifestDigest(file, 567198, 256, 2206, 9), "the split is in the digest")
	assert.NotEqual(t, ds.Digest(), data.ManifestDigest(file, 567198, 128, 2207, 8), "the page length is in the digest")

	other, err := data.OpenOptics(data.OpticsOptions{PageLength: 256, HeldOut: 9})
	require.NoError(t, err)
	assert.NotEqual(t, ds.Digest(), other.Digest())
}

func TestOpticsPages(t *testing.T) {
	text := opticsText(t)
	const l = 1000
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: l, HeldOut: 3})
	require.NoError(t, err)
	total := uint64(len(text) / l)
	require.Equal(t, total-3, ds.Pages())

	ctx := context.Background()
	var buf []int32
	for _, id := range []uint64{0, 1, 77, ds.Pages() - 1} {
		buf, err = ds.Page(ctx, id, buf)
		require.NoError(t, err)
		require.Len(t, buf, l)
		for i, tok := range buf {
			require.Equal(t, int32(text[int(id)*l+i]), tok, "page %d token %d", id, i)
		}
	}
	held, err := ds.HeldOut(ctx)
	require.NoError(t, err)
	require.Len(t, held, 3)
	for h, page := range held {
		id := int(ds.Pages()) + h
		require.Len(t, page, l)
		for i, tok := range page {
			require.Equal(t, int32(text[id*l+i]), tok, "held-out page %d token %d", h, i)
		}
	}

	for _, id := range []uint64{ds.Pages(), total, 1 << 40, ^uint64(0)} {
		_, err := ds.Page(ctx, id, nil)
		assert.ErrorIs(t, err, bistro.ErrNoPage, "page %d", id)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ds.Page(cancelled, 0, nil)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = ds.HeldOut(cancelled)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestOpticsFile(t *testing.T) {
	dir := t.TempDir()
	text := opticsText(t)

	copyPath := filepath.Join(dir, "copy.txt")
	require.NoError(t, os.WriteFile(copyPath, text, 0o600))
	ds, err := data.OpenOptics(data.OpticsOptions{Path: copyPath, PageLength: 256, HeldOut: 8})
	require.NoError(t, err, "an explicit path to the same bytes")
	def, err := data.OpenOptics(data.OpticsOptions{PageLength: 256, HeldOut: 8})
	require.NoError(t, err)
	assert.Equal(t, def.Digest(), ds.Digest())

	_, err = data.OpenOptics(data.OpticsOptions{Path: filepath.Join(dir, "missing.txt"), PageLength: 256})
	assert.ErrorIs(t, err, fs.ErrNotExist)

	changed := append([]byte(nil), text...)
	changed[1000] ^= 1
	changedPath := filepath.Join(dir, "changed.txt")
	require.NoError(t, os.WriteFile(changedPath, changed, 0o600))
	_, err = data.OpenOptics(data.OpticsOptions{Path: changedPath, PageLength: 256})
	assert.ErrorIs(t, err, data.ErrDigest)
	assert.ErrorContains(t, err, data.OpticsSHA256)
}

func TestOpticsOptions(t *testing.T) {
	for _, o := range []data.OpticsOptions{
		{PageLength: 1},
		{PageLength: 0},
		{PageLength: 256, HeldOut: -1},
		{PageLength: 256, HeldOut: 567198 / 256},
		{PageLength: 567199},
	} {
		_, err := data.OpenOptics(o)
		assert.Error(t, err, "%+v", o)
	}
}
