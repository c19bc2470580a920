package bistro

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestMergeKernelsGenerated: aggregate_amd64.s is what aggregate_gen.go
// writes today (an edit to either alone fails here).
func TestMergeKernelsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out := filepath.Join(t.TempDir(), "aggregate_amd64.s")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "aggregate_gen.go", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run aggregate_gen.go: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("aggregate_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("aggregate_amd64.s differs from aggregate_gen.go's output: run go generate")
	}
}
