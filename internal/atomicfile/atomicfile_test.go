package atomicfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/internal/atomicfile"
)

// tempFiles lists the temporary files Write leaves in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var tmp []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.json")
	for _, data := range [][]byte{[]byte("first"), []byte("second, longer"), {}, []byte("x")} {
		require.NoError(t, atomicfile.Write(path, data))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, data, got)
		assert.Empty(t, tempFiles(t, dir))
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestFailedWriteKeepsOld: whatever step fails, path keeps its old content
// and no temporary file is left behind.
func TestFailedWriteKeepsOld(t *testing.T) {
	t.Run("read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		require.NoError(t, atomicfile.Write(path, []byte("old")))
		require.NoError(t, os.Chmod(dir, 0o500))
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		if f, err := os.CreateTemp(dir, "probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("this process writes into read-only directories (root)")
		}
		require.Error(t, atomicfile.Write(path, []byte("new")))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, []byte("old"), got)
		assert.Empty(t, tempFiles(t, dir))
	})
	t.Run("rename fails", func(t *testing.T) {
		// path is a non-empty directory: the temporary file is written and
		// synced, then the rename over path fails.
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		require.NoError(t, os.Mkdir(path, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(path, "old"), []byte("old"), 0o600))
		require.Error(t, atomicfile.Write(path, []byte("new")))
		got, err := os.ReadFile(filepath.Join(path, "old"))
		require.NoError(t, err)
		assert.Equal(t, []byte("old"), got)
		assert.Empty(t, tempFiles(t, dir))
	})
	t.Run("missing directory", func(t *testing.T) {
		dir := t.TempDir()
		require.Error(t, atomicfile.Write(filepath.Join(dir, "missing", "f"), []byte("new")))
		assert.NoDirExists(t, filepath.Join(dir, "missing"))
	})
}

// TestStaleTemp: the temporary file of a write that crashed is not path, and
// the next Write replaces path all the same.
func TestStaleTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, atomicfile.Write(path, []byte("old")))
	stale, err := os.CreateTemp(dir, ".f.tmp-*")
	require.NoError(t, err)
	_, err = stale.WriteString("ne")
	require.NoError(t, err)
	require.NoError(t, stale.Close())

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []byte("old"), got)
	require.NoError(t, atomicfile.Write(path, []byte("new")))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []byte("new"), got)
	assert.Equal(t, []string{filepath.Base(stale.Name())}, tempFiles(t, dir), "Write leaves other writes' temporary files alone")
}
