package bistro_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
)

// spoolWindows lists the window directories of a spool and counts the
// slice files in them.
func spoolWindows(t *testing.T, dir string) (windows []uint64, files int) {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		w, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		windows = append(windows, w)
		fs, err := os.ReadDir(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		for _, f := range fs {
			if strings.HasSuffix(f.Name(), ".slice") {
				files++
			}
		}
	}
	return windows, files
}

// TestSpoolSameBits runs the hand-stepped network twice, once with both
// validators holding slices in memory and once spooling them to disk, and
// checks that every participant held the same digest at every base: the
// spool changes where bytes wait, never a bit of the aggregates. While it
// runs, the spool holds files (the slices are on disk, not in memory) and
// never more than the windows the validator still works on; once a window is
// done its files go.
func TestSpoolSameBits(t *testing.T) {
	const windows = 7
	ref := newTestnet(t)
	ref.run(windows)
	ref.agree(windows)

	n := newTestnet(t)
	dirs := map[string]string{}
	for _, name := range []string{"V0", "V1"} {
		dirs[name] = t.TempDir()
		n.vals[name] = nil
		v, err := bistro.NewValidator(n.confs[name], spoolOptions(name, dirs[name]))
		require.NoError(t, err)
		n.vals[name] = v
	}
	most, seen := 0, 0
	n.before = func(_ bistro.Block, who string) {
		if d, ok := dirs[who]; ok {
			ws, files := spoolWindows(t, d)
			most, seen = max(most, len(ws)), max(seen, files)
		}
	}
	n.run(windows)
	n.agree(windows)
	assert.Equal(t, ref.held, n.held, "digests with and without the spool")
	assert.Positive(t, seen, "slices were spooled")
	assert.LessOrEqual(t, most, 5, "spooled windows at once")
	for name, d := range dirs {
		ws, _ := spoolWindows(t, d)
		for _, w := range ws {
			assert.GreaterOrEqual(t, w+5, n.p.FirstWindow+windows, "%s still spools window %d", name, w)
		}
		assert.Positive(t, n.vals[name].Stats().Windows)
	}
}

// TestSpoolUnwritable: a spool that cannot take a window's files (here a
// file sits where the window's directory goes, as a full disk would refuse
// it) costs memory, not slices: the validator holds them in memory and the
// network ends with the same bits. Files that are not the spool's survive
// its sweeps, and a new validator clears what an earlier run left.
func TestSpoolUnwritable(t *testing.T) {
	const windows = 6
	ref := newTestnet(t)
	ref.run(windows)

	n := newTestnet(t)
	dir := t.TempDir()
	blocked := n.p.FirstWindow + 2
	require.NoError(t, os.WriteFile(filepath.Join(dir, strconv.FormatUint(blocked, 10)), []byte("in the way"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "1"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "1", "3.slice"), []byte("an earlier run's"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "1", "notes.txt"), []byte("not the spool's"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not the spool's"), 0o600))
	v, err := bistro.NewValidator(n.confs["V0"], spoolOptions("V0", dir))
	require.NoError(t, err)
	n.vals["V0"] = v
	_, err = os.Stat(filepath.Join(dir, "1", "3.slice"))
	assert.ErrorIs(t, err, os.ErrNotExist, "an earlier run's slice is cleared at start")

	n.run(windows)
	n.agree(windows)
	assert.Equal(t, ref.held, n.held, "digests with a spool that refused a window")
	for _, f := range []string{strconv.FormatUint(blocked, 10), "README", filepath.Join("1", "notes.txt")} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err, "%s survives", f)
	}
}

func spoolOptions(name, dir string) bistro.ValidatorOptions {
	o := testValidatorOptions(name)
	o.SpoolDir = dir
	return o
}

// TestSpoolLostFiles: a validator whose spooled slices vanish between its
// steps (an operator's clean-up, a disk swapped) still checks the lead's
// aggregates — with the lead's copies instead of its own — refuses none,
// and the network ends with the same bits.
func TestSpoolLostFiles(t *testing.T) {
	const windows = 6
	ref := newTestnet(t)
	ref.run(windows)

	n := newTestnet(t)
	dir := t.TempDir()
	v, err := bistro.NewValidator(n.confs["V1"], spoolOptions("V1", dir))
	require.NoError(t, err)
	n.vals["V1"] = v
	removed := 0
	n.before = func(_ bistro.Block, who string) {
		if who != "V1" {
			return
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*.slice"))
		for _, f := range files {
			require.NoError(t, os.Remove(f))
			removed++
		}
	}
	n.run(windows)
	n.agree(windows)
	assert.Equal(t, ref.held, n.held, "digests with a spool that loses its files")
	assert.Positive(t, removed)
	st := v.Stats()
	assert.Zero(t, st.Mismatches, "nothing refused for want of its own copy")
	assert.Positive(t, st.Verified)
	assert.Equal(t, ref.vals["V1"].Stats().Verified, st.Verified)
}
