package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspect(t *testing.T) {
	fx := newFixture(t)
	alice := fx.signer.Hotkey().String()
	for _, tc := range []struct {
		kind, path string
		want       []string
	}{
		{bistro.KindSlice, fx.slice, []string{"window 5", "seed " + fx.seed.String(), "[8]"}},
		{bistro.KindAggregate, fx.aggregate, []string{"manifest 2 entries", "uid hotkey", hashOf("slice 4").String(),
			"1 " + alice + " " + hashOf("slice 1").String()}},
		{bistro.KindCheckpoint, fx.checkpoint, []string{"window 0", "theta " + fx.theta.String(),
			"w [4,8] 32", "b [8] 8"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			b, err := os.ReadFile(tc.path)
			require.NoError(t, err)
			r := runCmd("inspect", tc.path)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Empty(t, r.stderr)
			for _, want := range append(tc.want,
				"kind "+tc.kind,
				"netuid 3",
				"hotkey "+alice,
				"params "+fx.p.Digest().String(),
				"base ",
				"sha256 "+bistro.Hash(sha256.Sum256(b)).String(),
				"payload hash ",
				"signature valid (by "+alice+")",
				"name shape",
			) {
				assert.Contains(t, r.text, want)
			}

			r = runCmd("inspect", "--json", tc.path)
			require.Equal(t, exitOK, r.code, r.stderr)
			var got report
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
			f, fl, ok, err := bistro.Inspect(b, len(b))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, tc.kind, got.Kind)
			assert.Equal(t, f.Window, got.Window)
			assert.Equal(t, fx.signer.Hotkey(), got.Hotkey)
			assert.Equal(t, f.PayloadHash(fl), got.PayloadHash)
			assert.Equal(t, bistro.Hash(sha256.Sum256(b)), got.SHA256)
			assert.Equal(t, f.Manifest, got.Manifest)
			assert.True(t, got.SignatureOK)
			assert.Equal(t, "valid", got.Signature)
			require.Len(t, got.Tensors, 2)
			assert.InDelta(t, bistro.Norm(f.Tensors), got.Norm, 1e-12)
			assert.Equal(t, f.Tensors[1][0], got.Tensors[1].Min)
			assert.Equal(t, f.Tensors[1][len(f.Tensors[1])-1], got.Tensors[1].Max)
		})
	}
}

func TestInspectTampered(t *testing.T) {
	fx := newFixture(t)
	bad := fx.tampered(t, fx.slice)
	r := runCmd("inspect", bad)
	assert.Equal(t, exitOK, r.code, "a bad signature is reported, not an error")
	assert.Contains(t, r.text, "signature INVALID")

	r = runCmd("inspect", bad, "--json")
	assert.Equal(t, exitOK, r.code)
	var got report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.False(t, got.SignatureOK)
	assert.Equal(t, "INVALID", got.Signature)

	r = runCmd("inspect", "--require-valid", bad)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stdout, "INVALID")
	assert.Contains(t, r.stderr, "signature INVALID")

	r = runCmd("inspect", "--require-valid", fx.slice)
	assert.Equal(t, exitOK, r.code, r.stderr)
}

func TestInspectRejects(t *testing.T) {
	fx := newFixture(t)
	good, err := os.ReadFile(fx.slice)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, want string
		b          []byte
		args       []string
	}{
		{"truncated", "malformed file", good[:len(good)-3], nil},
		{"header only", "malformed file", good[:20], nil},
		{"garbage", "malformed file", []byte("this is not a safetensors file at all"), nil},
		{"bad json", "malformed file", []byte("\x08\x00\x00\x00\x00\x00\x00\x00not json"), nil},
		{"empty", "malformed file", nil, nil},
		{"over max-bytes", "object too large", good, []string{"--max-bytes", "64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(fx.dir, strings.ReplaceAll(tc.name, " ", "-"))
			require.NoError(t, os.WriteFile(path, tc.b, 0o644))
			r := runCmd(append(append([]string{"inspect"}, tc.args...), path)...)
			assert.Equal(t, exitFail, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, path)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
	t.Run("missing", func(t *testing.T) {
		r := runCmd("inspect", filepath.Join(fx.dir, "absent"))
		assert.Equal(t, exitFail, r.code)
		assert.Contains(t, r.stderr, "no such file")
	})
	t.Run("directory", func(t *testing.T) {
		r := runCmd("inspect", fx.dir)
		assert.Equal(t, exitFail, r.code)
		assert.Contains(t, r.stderr, "not a regular file")
	})
}
