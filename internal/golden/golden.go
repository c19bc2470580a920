// Package golden compares test output with files under the repository's
// testdata/, and rewrites them when tests run with -update.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update rewrites golden files instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// JSON compares v, encoded as indented JSON, with the file at path, or
// rewrites the file under -update.
func JSON(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden file %s (run the test with -update): %v", path, err)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("%s differs from what the code computes; if the protocol change is deliberate, run the test with -update", path)
	}
}
