// Package data holds page datasets for the trainers of package train.
//
// OpticsDataset is the offline corpus of the local network and the tests:
// the text of Newton's Opticks that every Go installation carries, pinned by
// its SHA-256, cut into pages of raw bytes.
//
//	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 256, HeldOut: 8})
//	if err != nil { … }
//	tokens, err := ds.Page(ctx, 0, nil)   // bytes [0, 256) as int32
//	heldOut, err := ds.HeldOut(ctx)       // the last 8 pages, for evaluation
//
// ShardDataset is a real dataset: token shards listed by a Manifest (format
// bistro/dataset/tokens/v1) with their SHA-256, the manifest itself pinned by
// its SHA-256 (Params.DatasetDigest), read through any registered
// bistro.Storage driver. Builder (and `bistro manifest`) makes one from
// documents.
//
//	ds, err := data.OpenManifestURL(ctx, "file:///srv/datasets", "web/manifest.json", p.DatasetDigest, data.ShardOptions{})
//	tokens, err := ds.Page(ctx, id, nil)  // fetches and checks the page's shard on first use
package data

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bistro-go/bistro"
)

// OpticsSHA256 is the SHA-256 of $GOROOT/src/testdata/Isaac.Newton-Opticks.txt
// (567198 bytes) as shipped with Go.
const OpticsSHA256 = "d4a9ac22462b35e7821a4f2706c211093da678620a8f9997989ee7cf8d507bbd"

// OpticsFile is the path of the text inside GOROOT.
const OpticsFile = "src/testdata/Isaac.Newton-Opticks.txt"

// ManifestDomain is the domain of a raw-bytes dataset manifest; see
// ManifestDigest.
const ManifestDomain = "bistro/dataset/bytes/v1"

// ErrDigest is returned when a dataset file is not the pinned one.
var ErrDigest = errors.New("data: file digest differs from the pinned one")

// OpticsOptions says where the text is and how to cut it.
type OpticsOptions struct {
	// Path is the text file; "" means $GOROOT/src/testdata/Isaac.Newton-Opticks.txt
	// (GOROOT from the environment, else from `go env GOROOT`).
	Path string
	// PageLength is L, the tokens (bytes) of a page; at least 2.
	PageLength int
	// HeldOut is how many pages, the last ones of the file, are kept out of
	// training for evaluation; at least 0, and at least one training page
	// must remain.
	HeldOut int
}

// OpticsDataset is a bistro.Dataset of raw bytes: tokens are the bytes of the
// file, 0 … 255, and page p covers bytes [p·L, (p+1)·L). The file holds
// P = ⌊size/L⌋ whole pages (the tail shorter than L is unused); pages
// 0 … P−H−1 are the training pages, pages P−H … P−1 are held out. It is
// immutable and safe for concurrent use.
type OpticsDataset struct {
	text       []byte
	fileDigest bistro.Hash
	length     int
	train      uint64
	heldOut    int
	digest     bistro.Hash
}

var _ bistro.Dataset = (*OpticsDataset)(nil)

// DefaultOpticsPath returns $GOROOT/src/testdata/Isaac.Newton-Opticks.txt,
// GOROOT taken from the environment or else from `go env GOROOT` (the go
// command on PATH).
func DefaultOpticsPath() (string, error) {
	root := os.Getenv("GOROOT")
	if root == "" {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			return "", fmt.Errorf("data: cannot find GOROOT (set GOROOT or OpticsOptions.Path): %w", err)
		}
		root = strings.TrimSpace(string(out))
	}
	return filepath.Join(root, filepath.FromSlash(OpticsFile)), nil
}

// OpenOptics reads the text, checks it against OpticsSHA256 and cuts it into
// pages. A missing file and a file with another digest (ErrDigest) are errors.
func OpenOptics(o OpticsOptions) (*OpticsDataset, error) {
	want, err := bistro.ParseHash(OpticsSHA256)
	if err != nil {
		return nil, err
	}
	path := o.Path
	if path == "" {
		if path, err = DefaultOpticsPath(); err != nil {
			return nil, err
		}
	}
	if o.PageLength < 2 {
		return nil, fmt.Errorf("data: page length %d < 2", o.PageLength)
	}
	if o.HeldOut < 0 {
		return nil, fmt.Errorf("data: held-out pages %d < 0", o.HeldOut)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: the Opticks text (from the Go distribution): %w", err)
	}
	got := bistro.Hash(sha256.Sum256(text))
	if got != want {
		return nil, fmt.Errorf("%w: %s has SHA-256 %s, want %s", ErrDigest, path, got, want)
	}
	pages := len(text) / o.PageLength
	if pages-o.HeldOut < 1 {
		return nil, fmt.Errorf("data: %d bytes make %d pages of %d: none left for training after %d held out",
			len(text), pages, o.PageLength, o.HeldOut)
	}
	ds := &OpticsDataset{
		text:       text,
		fileDigest: got,
		length:     o.PageLength,
		train:      uint64(pages - o.HeldOut),
		heldOut:    o.HeldOut,
	}
	ds.digest = ManifestDigest(got, uint64(len(text)), uint32(o.PageLength), ds.train, uint64(o.HeldOut))
	return ds, nil
}

// ManifestDigest returns the manifest digest of a raw-bytes dataset:
//
//	SHA-256( u8 len(ManifestDomain) ‖ ManifestDomain ‖ file SHA-256 (32 bytes) ‖
//	         u64 file size ‖ u32 page length ‖ u64 training pages ‖ u64 held-out pages )
//
// integers little-endian, the H of the protocol (SPEC.md §1).
func ManifestDigest(file bistro.Hash, size uint64, pageLength uint32, train, heldOut uint64) bistro.Hash {
	b := make([]byte, 0, 1+len(ManifestDomain)+32+8+4+8+8)
	b = append(b, byte(len(ManifestDomain)))
	b = append(b, ManifestDomain...)
	b = append(b, file[:]...)
	b = binary.LittleEndian.AppendUint64(b, size)
	b = binary.LittleEndian.AppendUint32(b, pageLength)
	b = binary.LittleEndian.AppendUint64(b, train)
	b = binary.LittleEndian.AppendUint64(b, heldOut)
	return sha256.Sum256(b)
}

// Digest returns the manifest digest (see ManifestDigest), the value of
// Params.DatasetDigest.
func (d *OpticsDataset) Digest() bistro.Hash { return d.digest }

// FileDigest returns the SHA-256 of the text.
func (d *OpticsDataset) FileDigest() bistro.Hash { return d.fileDigest }

// Pages returns the number of training pages.
func (d *OpticsDataset) Pages() uint64 { return d.train }

// HeldOutPages returns the number of held-out pages.
func (d *OpticsDataset) HeldOutPages() int { return d.heldOut }

// PageLength returns L.
func (d *OpticsDataset) PageLength() int { return d.length }

// Page appends the bytes of training page id, as int32, to dst[:0].
func (d *OpticsDataset) Page(ctx context.Context, id uint64, dst []int32) ([]int32, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if id >= d.train {
		return dst, fmt.Errorf("%w: page %d of %d training pages", bistro.ErrNoPage, id, d.train)
	}
	return d.page(id, dst), nil
}

func (d *OpticsDataset) page(id uint64, dst []int32) []int32 {
	dst = dst[:0]
	for _, c := range d.text[id*uint64(d.length) : (id+1)*uint64(d.length)] {
		dst = append(dst, int32(c))
	}
	return dst
}

// HeldOut returns the held-out pages, ids Pages() … Pages()+HeldOutPages()−1
// of the file, in order.
func (d *OpticsDataset) HeldOut(ctx context.Context) ([][]int32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]int32, d.heldOut)
	for i := range out {
		out[i] = d.page(d.train+uint64(i), make([]int32, 0, d.length))
	}
	return out, nil
}

// String describes the dataset for logs.
func (d *OpticsDataset) String() string {
	return fmt.Sprintf("opticks %s: %d+%d pages of %d bytes, manifest %s",
		hex.EncodeToString(d.fileDigest[:4]), d.train, d.heldOut, d.length, hex.EncodeToString(d.digest[:4]))
}
