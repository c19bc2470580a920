package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParamsShow(t *testing.T) {
	fx := newFixture(t)
	r := runCmd("params", "show", fx.params)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	assert.Contains(t, r.stdout, fx.p.Digest().String())

	// Every field of the canonical JSON is shown, under its JSON path.
	canon, err := json.Marshal(&fx.p)
	require.NoError(t, err)
	fields, err := flatten(canon)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(fields), 40)
	for _, f := range fields {
		assert.Regexp(t, `(?m)^`+f[0]+` +`+f[1], r.stdout)
	}

	// DefaultParams: B = 10, G = 3, lag = 2, T = 12 s, upload 20 s, merge 40 s,
	// failover 4 blocks.
	for _, want := range []string{
		"blocks_per_window 10 blocks",
		"upload_time_ms 20000 (20s)",
		"window 10 blocks × 12s = 2m0s",
		"upload grace 3 × 12s = 36s ≥ upload_time 20s (slack 16s)",
		"merge (10 − 3 − 2) × 12s = 1m0s ≥ merge_time 40s (slack 20s)",
		"failover_delay 4 blocks",
		"failover 4 × 12s = 48s per rank ≥ merge_time 40s (slack 8s)",
	} {
		assert.Contains(t, r.text, want)
	}
}

func TestParamsShowJSON(t *testing.T) {
	fx := newFixture(t)
	r := runCmd("params", "show", fx.params, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var got struct {
		File   string
		Digest bistro.Hash
		Params bistro.Params
		Budget budget
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&got))
	assert.Equal(t, fx.params, got.File)
	assert.Equal(t, fx.p.Digest(), got.Digest)
	assert.Equal(t, fx.p, got.Params)
	assert.Equal(t, budget{WindowMS: 120000, UploadBudgetMS: 36000, UploadTimeMS: 20000, MergeBudgetMS: 60000, MergeTimeMS: 40000, RankBudgetMS: 48000}, got.Budget)
}

func TestParamsShowInvalid(t *testing.T) {
	fx := newFixture(t)
	canon, err := os.ReadFile(fx.params)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"grace 0", strings.Replace(string(canon), `"grace": 3`, `"grace": 0`, 1), "grace 0"},
		{"budget", strings.Replace(string(canon), `"upload_time_ms": 20000`, `"upload_time_ms": 50000`, 1), "< upload_time_ms 50000"},
		{"unknown field", strings.Replace(string(canon), `"grace": 3`, `"grace": 3, "gracee": 3`, 1), "gracee"},
		{"not JSON", "{", "invalid params"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(fx.dir, "bad.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.doc), 0o644))
			r := runCmd("params", "show", path)
			assert.Equal(t, exitFail, r.code)
			assert.Empty(t, r.stdout)
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
			assert.Contains(t, r.stderr, path+": ")
			assert.Contains(t, r.stderr, "invalid params")
			assert.Contains(t, r.stderr, tc.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(fx.dir, "absent.json")
		r := runCmd("params", "show", path)
		assert.Equal(t, exitFail, r.code)
		assert.Contains(t, r.stderr, path)
	})
}

// The lead's estimate at a subnet's size, and the warning when it cannot fit.
func TestParamsShowLeadWarning(t *testing.T) {
	fx := newFixture(t)
	r := runCmd("params", "show", fx.params)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.text, "lead 256 miners ×")
	assert.NotContains(t, r.text, "WARNING")

	p := fx.p
	p.Model.Parameters = 1_300_000_000
	p.SliceFraction = 0.01
	path := filepath.Join(t.TempDir(), "big.json")
	b, err := json.Marshal(&p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	r = runCmd("params", "show", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.text, "WARNING")
	assert.Contains(t, r.text, "the lead's window does not fit")
	r = runCmd("params", "show", "--miners", "4", path)
	assert.NotContains(t, r.text, "WARNING")
}
