package dir_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bistro-go/bistro/storage/dir"
)

// BenchmarkIO measures Put and Get against a baseline in the same run and
// the same directory: os.WriteFile (no sync), os.WriteFile followed by an
// fsync of the file (Put syncs the file and its directory), and os.ReadFile.
// Report Put and Get as ratios to these baselines.
func BenchmarkIO(b *testing.B) {
	root := b.TempDir()
	s, err := dir.New(root)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 20, 64 << 20} {
		data := bytes.Repeat([]byte{0xb1, 0x57, 0x20}, size/3+1)[:size]
		name := fmt.Sprintf("%dMiB", size>>20)
		key := "bench/" + name
		base := filepath.Join(root, "baseline-"+name)

		b.Run(name+"/Put", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := s.Put(b.Context(), key, bytes.NewReader(data), int64(size)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Get", func(b *testing.B) {
			if err := s.Put(b.Context(), key, bytes.NewReader(data), int64(size)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				got, err := s.Get(b.Context(), key, int64(size))
				if err != nil || len(got) != size {
					b.Fatal(err, len(got))
				}
			}
		})
		b.Run(name+"/BaselineWriteFile", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := os.WriteFile(base, data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/BaselineWriteFileSync", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				f, err := os.Create(base)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/BaselineReadFile", func(b *testing.B) {
			if err := os.WriteFile(base, data, 0o644); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				got, err := os.ReadFile(base)
				if err != nil || len(got) != size {
					b.Fatal(err, len(got))
				}
			}
		})
	}
}
