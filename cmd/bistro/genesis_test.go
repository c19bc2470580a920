package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/tokens"
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

// checkGenesisDir checks what genesis wrote into dir: params.json loads and
// validates, and genesis.safetensors verifies against it, with θ hashing to
// the pinned genesis digest.
func checkGenesisDir(t *testing.T, dir string) bistro.Params {
	t.Helper()
	p, err := bistro.LoadParams(filepath.Join(dir, "params.json"))
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	var out, errb bytes.Buffer
	code := run([]string{"verify", "--params", filepath.Join(dir, "params.json"), filepath.Join(dir, "genesis.safetensors")}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	b, err := os.ReadFile(filepath.Join(dir, "genesis.safetensors"))
	require.NoError(t, err)
	f, layout, ok, err := bistro.Inspect(b, 1<<30)
	require.NoError(t, err)
	require.True(t, ok)
	theta, err := thetaOf(layout, f.Tensors)
	require.NoError(t, err)
	assert.Equal(t, p.GenesisDigest, theta)
	return p
}

// TestGenesisPresets makes a genesis of each architecture and preset tested
// here (gpt2 small, 124M parameters and 500 MB, is left to the operator),
// with the timing flags.
func TestGenesisPresets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, p bistro.Params)
	}{
		{"mlp", nil, func(t *testing.T, p bistro.Params) {
			assert.Equal(t, train.MLPArch, p.Model.Arch)
			assert.EqualValues(t, 256, p.PageLength)
			d := bistro.DefaultParams(1)
			assert.Equal(t, d.BlocksPerWindow, p.BlocksPerWindow, "defaults unchanged")
			assert.Equal(t, d.BlockTimeMS, p.BlockTimeMS)
		}},
		{"gpt2-tiny", []string{"--arch", "gpt2", "--preset", "tiny", "--blocks-per-window", "20", "--block-time-ms", "15000", "--grace", "2"},
			func(t *testing.T, p bistro.Params) {
				assert.Equal(t, train.GPTTiny(), p.Model)
				assert.EqualValues(t, 129, p.PageLength, "one sequence of context+1 a page")
				assert.EqualValues(t, 20, p.BlocksPerWindow)
				assert.EqualValues(t, 15000, p.BlockTimeMS)
				assert.EqualValues(t, 2, p.Grace)
				// The recommended GPT Params.
				assert.Equal(t, 0.25, p.SliceFraction)
				assert.Equal(t, 0.00025, p.LR.Base)
				assert.Equal(t, bistro.LRScaleInverseFraction, p.LRScale)
				assert.EqualValues(t, 2, p.InnerSteps)
				assert.Equal(t, bistro.AdamW(), p.InnerOptimizer)
				ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 129, HeldOut: 16})
				require.NoError(t, err)
				assert.Equal(t, ds.Digest(), p.DatasetDigest, "the offline text as bytes")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var out, errb bytes.Buffer
			code := run(append([]string{"genesis", "--out", dir}, tc.args...), &out, &errb)
			require.Equal(t, exitOK, code, errb.String())
			tc.check(t, checkGenesisDir(t, dir))
		})
	}
}

// TestGenesisDataset pins a token dataset built by bistro manifest.
func TestGenesisDataset(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), bytes.Repeat([]byte("light is refracted. "), 400), 0o644))
	dir := t.TempDir()
	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run([]string{"manifest", "--tokenizer", "bytes", "--page-length", "129", "--held-out", "2",
		"--out", filepath.Join(dir, "dataset"), src}, &out, &errb), errb.String())
	manifest := filepath.Join(dir, "dataset", "manifest.json")
	require.Equal(t, exitOK, run([]string{"genesis", "--out", dir, "--arch", "gpt2", "--dataset", manifest}, &out, &errb), errb.String())
	p := checkGenesisDir(t, dir)
	b, err := os.ReadFile(manifest)
	require.NoError(t, err)
	assert.Equal(t, bistro.Hash(sha256.Sum256(b)), p.DatasetDigest)
	assert.EqualValues(t, 8000/129-2, p.DatasetPages)
	assert.EqualValues(t, 129, p.PageLength)

	// A dataset of GPT-2 tokens does not fit a model of 256 tokens.
	gdir := t.TempDir()
	require.Equal(t, exitOK, run([]string{"manifest", "--tokenizer", "gpt2", "--page-length", "129",
		"--out", filepath.Join(gdir, "dataset"), src}, &out, &errb), errb.String())
	errb.Reset()
	assert.Equal(t, exitFail, run([]string{"genesis", "--out", gdir, "--dataset", filepath.Join(gdir, "dataset", "manifest.json")}, &out, &errb))
	assert.Contains(t, errb.String(), "vocabulary 50257")
	assert.NoFileExists(t, filepath.Join(gdir, "params.json"))
}

// TestGenesisOpticsGPT2 builds the dataset a gpt2 small genesis pins without
// --dataset: the offline text in GPT-2 tokens, readable by digest.
func TestGenesisOpticsGPT2(t *testing.T) {
	tok, err := tokens.NewGPT2()
	require.NoError(t, err)
	folder := t.TempDir()
	m, digest, err := buildOptics(folder, tok, 1025, 16)
	require.NoError(t, err)
	assert.Equal(t, tokens.GPT2Name, m.Tokenizer)
	assert.EqualValues(t, 50257, m.Vocab)
	st, err := dir.New(folder)
	require.NoError(t, err)
	ds, err := data.OpenManifest(t.Context(), st, data.ManifestName, digest, data.ShardOptions{})
	require.NoError(t, err)
	require.NoError(t, ds.Verify(t.Context()))
	assert.Greater(t, ds.Pages(), uint64(100))
}

func TestGenesisBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"--arch", "rnn"}, {"--arch", "gpt2", "--preset", "medium"}, {"--page-length", "1"},
	} {
		assert.Equal(t, exitUsage, run(append([]string{"genesis", "--out", t.TempDir()}, args...), &out, &errb), args)
	}
	// Validate refuses a grace as long as the window.
	dir := t.TempDir()
	assert.Equal(t, exitFail, run([]string{"genesis", "--out", dir, "--blocks-per-window", "3"}, &out, &errb))
	assert.NoFileExists(t, filepath.Join(dir, "params.json"))
}
