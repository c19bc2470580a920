package devnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

func TestDevnetParams(t *testing.T) {
	for _, tc := range []struct {
		block, window time.Duration
		b, grace      uint64
	}{
		{2 * time.Second, 12 * time.Second, 6, 2},
		{time.Second, 12 * time.Second, 12, 4},
		{3 * time.Second, 12 * time.Second, 4, 1},
		{500 * time.Millisecond, 2 * time.Second, 4, 1},
		{12 * time.Second, 120 * time.Second, 10, 3},
	} {
		o := DefaultOptions("x")
		o.BlockTime, o.WindowTime = tc.block, tc.window
		require.NoError(t, o.Validate())
		p := DevnetParams(o, 2)
		assert.Equal(t, tc.b, p.BlocksPerWindow, "%v/%v", tc.block, tc.window)
		assert.Equal(t, tc.grace, p.Grace, "%v/%v", tc.block, tc.window)
		assert.Equal(t, uint64(tc.block/time.Millisecond), p.BlockTimeMS)
		assert.Zero(t, p.FinalityLag)
		// The first window starts no sooner than StartDelay.
		assert.GreaterOrEqual(t, time.Duration(p.FirstWindow*p.BlocksPerWindow-2)*tc.block, o.StartDelay)
		// Validate wants the model, dataset and genesis too.
		p.Model = bistro.ModelConfig{Arch: "mlp/v1", Parameters: 1}
		p.DatasetPages, p.DatasetDigest, p.GenesisDigest = 100, bistro.Hash{1}, bistro.Hash{2}
		require.NoError(t, p.Validate(), "%v/%v", tc.block, tc.window)
	}
}

func TestSplitObjectURL(t *testing.T) {
	b, k, err := SplitObjectURL("s3://own/bistro/release/params.json?endpoint=http://127.0.0.1:9000&path_style=1&region=us-east-1")
	require.NoError(t, err)
	assert.Equal(t, "s3://own?endpoint=http://127.0.0.1:9000&path_style=1&region=us-east-1", b)
	assert.Equal(t, "bistro/release/params.json", k)
	for _, bad := range []string{"s3://own?endpoint=x", "file:///a/b", "s3://own/../x", "s3:///key"} {
		_, _, err := SplitObjectURL(bad)
		assert.Error(t, err, bad)
	}
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, "--bucket", shellQuote("--bucket"))
	assert.Equal(t, "/tmp/d/wallets", shellQuote("/tmp/d/wallets"))
	assert.Equal(t, "'s3://b?endpoint=http://127.0.0.1:1&path_style=1'", shellQuote("s3://b?endpoint=http://127.0.0.1:1&path_style=1"))
	assert.Equal(t, `'it'\''s'`, shellQuote("it's"))
	assert.Equal(t, "''", shellQuote(""))
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, DefaultOptions("d").Validate())
	o := DefaultOptions("")
	o.Validators, o.BlockTime, o.Seed = 0, time.Millisecond, "a/b"
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{"Dir is empty", "Validators 0", "BlockTime 1ms", `Seed "a/b"`} {
		assert.Contains(t, err.Error(), want)
	}
}
