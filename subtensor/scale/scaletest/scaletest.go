// Package scaletest finds and loads the recorded Subtensor artifacts that
// the tests of subtensor/scale, subtensor/wallet and subtensor/crosscheck
// run on (../shared/fixtures/subtensor beside the repository). A test that
// needs them fails, never skips, and says what is missing and how to get
// it.
package scaletest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bistro-go/bistro/subtensor/scale"
)

// EnvFixtures overrides the fixtures directory (the one holding
// subtensor/).
const EnvFixtures = "BISTRO_FIXTURES"

// MetadataFiles are the metadata fixtures, oldest first.
var MetadataFiles = []string{
	"metadata_v14.txt",            // v14, spec 343, state_getMetadata hex
	"metadata_v15_at_version.txt", // v15, spec 343, Option<OpaqueMetadata> hex
	"one-covenant_finney.scale",   // v16, spec 365, binary
	"CortexLM_finney.scale",       // v16, spec 393, binary
}

// RepoRoot returns the root of the bistro module, found by walking up from
// the working directory to the go.mod of github.com/bistro-go/bistro.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FindRepoRoot is RepoRoot for code outside tests: it returns an error
// instead of failing a test.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("scaletest: working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/bistro-go/bistro\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("scaletest: no go.mod of github.com/bistro-go/bistro above %s", dir)
		}
	}
}

// Dir returns the directory of the Subtensor fixtures: $BISTRO_FIXTURES/subtensor,
// by default shared/fixtures/subtensor in the nearest folder above the
// repository that has one (../shared beside a checkout, or further up when
// the checkout sits deeper). It fails the test when the directory is missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := FindDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// FindDir is Dir for code outside tests (the devnet): the error says what
// is missing and how to point at it.
func FindDir() (string, error) {
	base := os.Getenv(EnvFixtures)
	how := "$" + EnvFixtures
	if base == "" {
		root, err := FindRepoRoot()
		if err != nil {
			return "", err
		}
		base = filepath.Join(root, "..", "shared", "fixtures")
		how = "the default ../shared/fixtures beside the repository"
		// The workspace's shared folder: beside the checkout, further up,
		// or at the workspace root when the checkout was cloned elsewhere.
		var candidates []string
		for up := filepath.Dir(root); ; up = filepath.Dir(up) {
			candidates = append(candidates, filepath.Join(up, "shared", "fixtures"))
			if filepath.Dir(up) == up {
				break
			}
		}
		candidates = append(candidates, filepath.Join(string(filepath.Separator), "work", "shared", "fixtures"))
		for _, c := range candidates {
			if st, err := os.Stat(filepath.Join(c, "subtensor")); err == nil && st.IsDir() {
				base = c
				break
			}
		}
	}
	dir := filepath.Join(base, "subtensor")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("scaletest: MISSING fixtures: %s (from %s) is not a directory. The recorded Subtensor artifacts "+
			"(metadata_v14.txt, metadata_v15_at_version.txt, *_finney.scale, metagraph_seed.json, neurons_lite_seed.json, "+
			"nacl_fixture.hex, raonet.json) live in shared/fixtures/subtensor beside the repository; set %s to the folder that holds subtensor/",
			dir, how, EnvFixtures)
	}
	return dir, nil
}

// Read returns the bytes of a fixture file, failing the test when it is
// missing.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	p := filepath.Join(Dir(t), name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("scaletest: MISSING fixture %s: %v", p, err)
	}
	return b
}

// MetadataBytes returns the RuntimeMetadataPrefixed bytes of a metadata
// fixture: hex files are decoded, the at-version file unwrapped from its
// Option<OpaqueMetadata>.
func MetadataBytes(t testing.TB, name string) []byte {
	t.Helper()
	b := Read(t, name)
	if !strings.HasSuffix(name, ".txt") {
		return b
	}
	raw, err := scale.DecodeHex(string(b))
	if err != nil {
		t.Fatalf("scaletest: %s: %v", name, err)
	}
	if strings.Contains(name, "at_version") {
		if raw, err = scale.UnwrapOpaqueMetadata(raw); err != nil {
			t.Fatalf("scaletest: %s: %v", name, err)
		}
	}
	return raw
}

var cache sync.Map // name -> *scale.Metadata

// Metadata decodes a metadata fixture once per test binary.
func Metadata(t testing.TB, name string) *scale.Metadata {
	t.Helper()
	if md, ok := cache.Load(name); ok {
		return md.(*scale.Metadata)
	}
	md, err := scale.DecodeMetadata(MetadataBytes(t, name))
	if err != nil {
		t.Fatalf("scaletest: decode %s: %v", name, err)
	}
	cache.Store(name, md)
	return md
}
