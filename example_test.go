package bistro_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/bistro-go/bistro"
)

func exampleParams() bistro.Params {
	p := bistro.DefaultParams(3)
	p.PageLength = 256
	p.DatasetPages = 1000
	p.DatasetDigest = sha256.Sum256([]byte("dataset manifest"))
	p.GenesisDigest = sha256.Sum256([]byte("genesis"))
	p.Model = bistro.ModelConfig{Arch: "mlp/v1", Vocab: 256, Context: 4, Embed: 8, Hidden: 64, Parameters: 20800}
	return p
}

// Params are validated before use; their digest goes into every file.
func ExampleParams_Validate() {
	p := exampleParams()
	fmt.Println(p.Validate())
	p.Grace = p.BlocksPerWindow
	fmt.Println(p.Validate())
	// Output:
	// <nil>
	// bistro: invalid params: grace 10 >= blocks_per_window 10
}

// A window's life in blocks.
func ExampleWindows() {
	p := exampleParams()
	win, _ := bistro.NewWindows(&p)
	w := win.Of(1234)
	seed, _ := win.SeedBlock(w)
	deadline, _ := win.Deadline(w)
	last, _ := win.LastApplied(w)
	fmt.Printf("block 1234 is in window %d; seed block %d; deadline %d; base = genesis + aggregates 0…%d\n",
		w, seed, deadline, last)
	// Output:
	// block 1234 is in window 123; seed block 1240; deadline 1243; base = genesis + aggregates 0…121
}

// The pages a miner trains on are a pure function of the subnet, window and
// hotkey, so a validator recomputes them.
func ExamplePages_Assign() {
	alice, _ := bistro.KeypairFromURI("//Alice")
	ids, _ := bistro.Pages{NetUID: 3}.Assign(0, alice.Hotkey(), 4, 1000)
	fmt.Println(alice.Hotkey(), ids)
	// Output:
	// 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY [258 662 355 243]
}

// The slice coordinates come from the finalized seed block's hash.
func ExampleSlices_Select() {
	layout := bistro.Layout{{Name: "w", Shape: []int{4, 8}}, {Name: "b", Shape: []int{8}}}
	seed := sha256.Sum256([]byte("hash of block 1240"))
	idx, _ := bistro.Slices{Fraction: 0.25, Run: 2}.Select(seed, layout)
	fmt.Println(idx[0], idx[1])
	// Output:
	// [6 7 12 13 18 19 28 29] [6 7]
}

// A bucket commitment fits the chain's three raw fields of 128 bytes.
func ExampleCommitment_Fields() {
	c := bistro.Commitment{
		Params:   sha256.Sum256([]byte("params")),
		Endpoint: "https://s3.eu-west-1.amazonaws.com",
		Bucket:   "bistro-miner-7",
		Region:   "eu-west-1",
	}
	fields, _ := c.Fields()
	back, _ := bistro.ParseCommitment(fields)
	_, err := bistro.CheckEndpoint(back.Endpoint, false)
	fmt.Println(len(fields), len(fields[0]), back.Bucket, err)
	// Output:
	// 2 59 bistro-miner-7 <nil>
}
