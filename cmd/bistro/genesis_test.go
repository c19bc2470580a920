package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

func TestGenesis(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"genesis", "--out", dir, "--seed", "s", "--context", "4", "--embed", "8", "--hidden", "32"}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	p, err := bistro.LoadParams(filepath.Join(dir, "params.json"))
	require.NoError(t, err)
	assert.Equal(t, "mlp/v1", p.Model.Arch)

	// The checkpoint verifies against the Params, and θ hashes to the pinned digest.
	code = run([]string{"verify", "--params", filepath.Join(dir, "params.json"), filepath.Join(dir, "genesis.safetensors")}, &out, &errb)
	assert.Equal(t, exitOK, code, errb.String())
	b, err := os.ReadFile(filepath.Join(dir, "genesis.safetensors"))
	require.NoError(t, err)
	f, layout, ok, err := bistro.Inspect(b, 1<<24)
	require.NoError(t, err)
	assert.True(t, ok)
	m, err := bistro.NewMemModel(layout)
	require.NoError(t, err)
	for i, v := range f.Tensors {
		require.NoError(t, m.Write(i, v))
	}
	theta, err := bistro.ThetaHash(m)
	require.NoError(t, err)
	assert.Equal(t, p.GenesisDigest, theta)

	// The same seed gives the same θ₀; another seed another.
	dir2 := t.TempDir()
	require.Equal(t, exitOK, run([]string{"genesis", "--out", dir2, "--seed", "s", "--context", "4", "--embed", "8", "--hidden", "32"}, &out, &errb))
	p2, err := bistro.LoadParams(filepath.Join(dir2, "params.json"))
	require.NoError(t, err)
	assert.Equal(t, p.GenesisDigest, p2.GenesisDigest)
	require.Equal(t, exitOK, run([]string{"genesis", "--out", dir2, "--seed", "t", "--context", "4", "--embed", "8", "--hidden", "32"}, &out, &errb))
	p3, err := bistro.LoadParams(filepath.Join(dir2, "params.json"))
	require.NoError(t, err)
	assert.NotEqual(t, p.GenesisDigest, p3.GenesisDigest)

	assert.Equal(t, exitUsage, run([]string{"genesis"}, &out, &errb), "--out is required")
}
