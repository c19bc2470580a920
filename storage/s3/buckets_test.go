package s3_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
)

func commitment(bucket string, withKey bool) bistro.Commitment {
	c := bistro.Commitment{Params: sha256.Sum256([]byte("params")), Endpoint: srv.Endpoint, Bucket: bucket, Region: srv.Region}
	if withKey {
		c.ReadKeyID, c.ReadSecret = srv.AccessKey, srv.SecretKey
	}
	return c
}

// TestBucketsOpen opens a participant's bucket from its commitment, with its
// read key, and only reads it.
func TestBucketsOpen(t *testing.T) {
	ctx := t.Context()
	owner := newStore(t)
	require.NoError(t, owner.Put(ctx, "bistro/v1/1/7/slice", strings.NewReader("slice"), 5))
	miner, err := bistro.KeypairFromURI("//Miner")
	require.NoError(t, err)

	b := &s3.Buckets{Options: srv.Options(""), AllowPrivate: true}
	c := commitment(owner.Bucket(), true)
	c.Endpoint += "/"
	st, err := b.Open(ctx, miner.Hotkey(), c)
	require.NoError(t, err)
	got, err := st.Get(ctx, "bistro/v1/1/7/slice", 100)
	require.NoError(t, err)
	assert.Equal(t, []byte("slice"), got)
	list, err := st.List(ctx, "bistro/")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	_, err = st.Get(ctx, "bistro/v1/1/8/slice", 100)
	assert.ErrorIs(t, err, bistro.ErrNotFound)

	assert.ErrorIs(t, st.Put(ctx, "x", strings.NewReader("x"), 1), s3.ErrReadOnly)
	assert.ErrorIs(t, st.Delete(ctx, "bistro/v1/1/7/slice"), s3.ErrReadOnly)
	_, err = owner.Stat(ctx, "bistro/v1/1/7/slice")
	require.NoError(t, err, "the refused delete sent nothing")

	// Opened again, from another goroutine's view, it is the same bucket.
	again, err := b.Open(ctx, miner.Hotkey(), c)
	require.NoError(t, err)
	got, err = again.Get(ctx, "bistro/v1/1/7/slice", 100)
	require.NoError(t, err)
	assert.Equal(t, []byte("slice"), got)

	// Without a read key, a public bucket is read with unsigned requests and
	// a private one is refused.
	_, err = mustOpen(t, b, commitment(owner.Bucket(), false)).Get(ctx, "bistro/v1/1/7/slice", 100)
	assert.Error(t, err)
	makePublic(t, owner.Bucket())
	got, err = mustOpen(t, b, commitment(owner.Bucket(), false)).Get(ctx, "bistro/v1/1/7/slice", 100)
	require.NoError(t, err)
	assert.Equal(t, []byte("slice"), got)
}

func mustOpen(t *testing.T, b *s3.Buckets, c bistro.Commitment) bistro.Storage {
	t.Helper()
	st, err := b.Open(t.Context(), bistro.Hotkey{}, c)
	require.NoError(t, err)
	return st
}

// TestBucketsEndpointRule: without the local-network option, a commitment
// cannot point a reader at loopback, private or plain-http endpoints.
func TestBucketsEndpointRule(t *testing.T) {
	b := &s3.Buckets{}
	for _, ep := range []string{
		srv.Endpoint, "https://127.0.0.1", "https://10.0.0.1", "https://169.254.169.254", "https://localhost",
		"http://s3.example.com", "https://s3.example.com/path", "https://u:p@s3.example.com", "ftp://s3.example.com",
	} {
		c := commitment("bucket", true)
		c.Endpoint = ep
		_, err := b.Open(t.Context(), bistro.Hotkey{}, c)
		assert.ErrorIs(t, err, bistro.ErrEndpoint, ep)
		if err != nil {
			assert.NotContains(t, err.Error(), srv.SecretKey)
		}
	}
	// A public https endpoint opens (no request is sent by Open).
	c := commitment("bucket", true)
	c.Endpoint = "https://acct.r2.cloudflarestorage.com"
	_, err := b.Open(t.Context(), bistro.Hotkey{}, c)
	assert.NoError(t, err)
	// The local-network option still refuses other schemes.
	local := &s3.Buckets{AllowPrivate: true}
	c.Endpoint = "ftp://127.0.0.1"
	_, err = local.Open(t.Context(), bistro.Hotkey{}, c)
	assert.ErrorIs(t, err, bistro.ErrEndpoint)
}
