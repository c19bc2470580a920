package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The committed PTX was built from the committed sources: sources.sha256,
// which scripts/ptx writes beside the PTX, lists the digests of exactly the
// sources there are now. (scripts/ptx --check rebuilds the PTX itself where
// nvcc is installed.)
func TestPTXFromSources(t *testing.T) {
	recorded, err := fs.ReadFile(Sources, "sources.sha256")
	require.NoError(t, err)
	var want strings.Builder
	names, err := fs.Glob(Sources, "*.[ch]*")
	require.NoError(t, err)
	slices.Sort(names)
	for _, name := range names {
		if name == "sources.sha256" {
			continue
		}
		b, err := fs.ReadFile(Sources, name)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		fmt.Fprintf(&want, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	require.Equal(t, want.String(), string(recorded), "the sources changed since the PTX was built: run scripts/ptx")
}

// Every kernel the trainers launch is an entry of its module's PTX, and
// every entry is one of them.
func TestPTXEntries(t *testing.T) {
	for _, m := range []struct {
		name    string
		ptx     []byte
		kernels []string
	}{{"mlp", MLP, MLPKernels}, {"gpt", GPT, GPTKernels}} {
		var entries []string
		for _, e := range regexp.MustCompile(`\.visible \.entry (\w+)\(`).FindAllStringSubmatch(string(m.ptx), -1) {
			entries = append(entries, e[1])
		}
		assert.ElementsMatch(t, m.kernels, entries, m.name)
		assert.Contains(t, string(m.ptx), ".target sm_90", "PTX for compute_90")
	}
}
