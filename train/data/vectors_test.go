package data

import (
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/golden"
)

// TestVectorsOptics pins the offline dataset's rule (SPEC.md §4.2) for the
// Python reader: the manifest digest and the first tokens of some pages.
func TestVectorsOptics(t *testing.T) {
	type page struct {
		ID    uint64  `json:"id"`
		First []int32 `json:"first_tokens"`
	}
	type vec struct {
		FileSHA256 bistro.Hash `json:"file_sha256"`
		Size       uint64      `json:"file_size"`
		PageLength int         `json:"page_length"`
		HeldOut    int         `json:"held_out"`
		Training   uint64      `json:"training_pages"`
		Manifest   bistro.Hash `json:"manifest_digest"`
		Pages      []page      `json:"pages"`
		HeldOut0   []int32     `json:"held_out_first_tokens"`
	}
	var out []vec
	for _, c := range []struct{ l, h int }{{256, 16}, {1000, 3}} {
		d, err := OpenOptics(OpticsOptions{PageLength: c.l, HeldOut: c.h})
		if err != nil {
			t.Fatal(err)
		}
		v := vec{FileSHA256: d.FileDigest(), Size: 567198, PageLength: c.l, HeldOut: c.h, Training: d.Pages(), Manifest: d.Digest()}
		for _, id := range []uint64{0, 1, d.Pages() - 1} {
			p, err := d.Page(t.Context(), id, nil)
			if err != nil {
				t.Fatal(err)
			}
			v.Pages = append(v.Pages, page{id, p[:16]})
		}
		ho, err := d.HeldOut(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		v.HeldOut0 = ho[0][:16]
		out = append(out, v)
	}
	golden.JSON(t, "../../testdata/vectors/dataset_optics.json", out)
}
