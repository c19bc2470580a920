package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyOK(t *testing.T) {
	fx := newFixture(t)
	seed, base := fx.seed.String(), fx.base.String()
	alice := fx.signer.Hotkey().String()
	for _, tc := range []struct {
		name      string
		args      []string
		want, not []string
	}{
		{"slice, everything given",
			[]string{fx.slice, "--params", fx.params, "--layout", fx.layout, "--seed", seed, "--base", base, "--window", "5", "--hotkey", alice},
			[]string{"OK", "slice of netuid 3, window 5", "window 5, as expected", "seed " + seed + ", as expected",
				"base " + base + ", as expected", "signature valid, by " + alice + ", as expected",
				"indices 10 coordinates from slice/v1", "layout 2 tensors, 40 parameters = model.parameters (" + fx.layout + ")",
				"norm ", "params " + fx.p.Digest().String()},
			[]string{"warning", "note"}},
		{"slice, seed from the file",
			[]string{"--params", fx.params, "--layout", fx.layout, fx.slice},
			[]string{"OK", "the file's own", "warning: the seed was taken from the file and not checked against the chain", "not checked; pass --base"},
			nil},
		{"slice, layout from the file",
			[]string{"--params", fx.params, fx.slice},
			[]string{"OK", "note: layout taken from the file", "slice indices and the model's parameter count were not checked"},
			[]string{"coordinates from"}},
		{"aggregate",
			[]string{"--params", fx.params, "--layout", fx.layout, "--seed", seed, fx.aggregate},
			[]string{"OK", "aggregate of netuid 3, window 5", "manifest 2 entries"},
			nil},
		{"genesis checkpoint, layout from the file",
			[]string{"--params", fx.params, fx.checkpoint},
			[]string{"OK", "checkpoint of netuid 3, window 0", "note: layout taken from the file",
				"theta " + fx.theta.String() + ", recomputed", "genesis θ hash = genesis_digest"},
			[]string{"warning", "seed"}},
		{"checkpoint with layout",
			[]string{"--params", fx.params, "--layout", fx.layout, "--window", "0", fx.checkpoint},
			[]string{"OK", "genesis"},
			[]string{"note"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(append([]string{"verify"}, tc.args...)...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Empty(t, r.stderr)
			for _, want := range tc.want {
				assert.Contains(t, r.text, want)
			}
			for _, not := range tc.not {
				assert.NotContains(t, r.text, not)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	fx := newFixture(t)

	// Params that differ from fx.p in one field, so in their digest.
	other := fx.p
	other.ClipNorm = 2
	otherPath := filepath.Join(fx.dir, "other.json")
	writeParams(t, otherPath, &other)

	// A layout whose parameter count is not the params' model.parameters.
	bigLayout := filepath.Join(fx.dir, "big.json")
	require.NoError(t, os.WriteFile(bigLayout, []byte(`[{"name":"w","shape":[4,8]},{"name":"b","shape":[9]}]`), 0o644))
	badLayout := filepath.Join(fx.dir, "badlayout.json")
	require.NoError(t, os.WriteFile(badLayout, []byte(`[{"name":"w","shape":[4,8],"dtype":"F32"}]`), 0o644))

	// A checkpoint whose theta field is not its tensors' hash.
	m, err := bistro.NewMemModel(layout)
	require.NoError(t, err)
	lying := fx.checkpointFile(&fx.p, 50, m)
	lying.Theta = hashOf("not theta")
	lyingPath := filepath.Join(fx.dir, "lying.safetensors")
	fx.write(t, lyingPath, lying)

	// A window-0 checkpoint, consistent in itself, of params whose genesis
	// digest is another θ.
	g := fx.p
	g.GenesisDigest = hashOf("another genesis")
	gPath := filepath.Join(fx.dir, "g.json")
	writeParams(t, gPath, &g)
	gCk := filepath.Join(fx.dir, "g.safetensors")
	fx.write(t, gCk, fx.checkpointFile(&g, 0, m))

	// A slice over the norm bound: lr 1e-3 × clip 1 × 1.01.
	loud := fx.sliceFile(5)
	loud.Tensors[0][0] = 1
	loudPath := filepath.Join(fx.dir, "loud.safetensors")
	fx.write(t, loudPath, loud)

	bob, err := bistro.KeypairFromURI("//Bob")
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"tampered slice", []string{"--params", fx.params, "--layout", fx.layout, fx.tampered(t, fx.slice)}, []string{"bad signature"}},
		{"tampered checkpoint", []string{"--params", fx.params, fx.tampered(t, fx.checkpoint)}, []string{"bad signature"}},
		{"wrong params", []string{"--params", otherPath, "--layout", fx.layout, fx.slice}, []string{"wrong params digest", "params"}},
		{"invalid params file", []string{"--params", fx.slice, fx.slice}, []string{"invalid params", fx.slice}},
		{"wrong window", []string{"--params", fx.params, "--window", "6", fx.slice}, []string{"[wrong window]", "5, want 6"}},
		{"wrong seed", []string{"--params", fx.params, "--layout", fx.layout, "--seed", hashOf("x").String(), fx.slice}, []string{"[wrong seed]"}},
		{"wrong base", []string{"--params", fx.params, "--base", hashOf("x").String(), fx.slice}, []string{"[wrong base digest]"}},
		{"wrong signer", []string{"--params", fx.params, "--hotkey", bob.Hotkey().String(), fx.slice}, []string{"[signed by an unexpected hotkey]"}},
		{"layout parameter count", []string{"--params", fx.params, "--layout", bigLayout, fx.slice}, []string{"[bad layout]", "41 parameters", "model.parameters 40"}},
		{"layout unknown field", []string{"--params", fx.params, "--layout", badLayout, fx.slice}, []string{"[bad layout]", "dtype"}},
		{"layout missing", []string{"--params", fx.params, "--layout", filepath.Join(fx.dir, "absent.json"), fx.slice}, []string{"no such file"}},
		{"theta mismatch", []string{"--params", fx.params, lyingPath}, []string{"[theta mismatch]"}},
		{"genesis mismatch", []string{"--params", gPath, gCk}, []string{"[genesis digest mismatch]", hashOf("another genesis").String()}},
		{"norm bound", []string{"--params", fx.params, loudPath}, []string{"[slice norm out of bounds]"}},
		{"garbage", []string{"--params", fx.params, fx.params}, []string{"[malformed file]", "not a safetensors file?"}},
		{"truncated", []string{"--params", fx.params, fx.truncated(t, fx.slice)}, []string{"[malformed file]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(append([]string{"verify"}, tc.args...)...)
			assert.Equal(t, exitFail, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, "FAIL")
			for _, want := range tc.want {
				assert.Contains(t, r.stderr, want)
			}
		})
	}

	t.Run("seed on a checkpoint", func(t *testing.T) {
		r := runCmd("verify", "--params", fx.params, "--seed", fx.seed.String(), fx.checkpoint)
		assert.Equal(t, exitUsage, r.code)
		assert.Contains(t, r.stderr, "--seed applies to slices and aggregates")
	})
}
