package bistro_test

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
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

// Another subnet's validator scores one miner's slice with no loop and no
// chain: Params, the base model, a trainer and the dataset are all it needs.
func ExampleScoreSlice() {
	ctx := context.Background()
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 128, HeldOut: 4})
	if err != nil {
		panic(err)
	}
	cfg, _ := train.NewMLPConfig(256, 4, 8, 32)
	base, _ := train.InitMLP(cfg, sha256.Sum256([]byte("genesis")))
	theta, _ := bistro.ThetaHash(base)
	p := bistro.DefaultParams(3)
	p.PageLength, p.DatasetPages, p.DatasetDigest = 128, ds.Pages(), ds.Digest()
	p.Model, p.GenesisDigest = cfg, theta
	p.SliceFraction, p.LR = 0.1, bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.5}
	p.Checks.MinNormFactor = 0.05

	miner, _ := bistro.KeypairFromURI("//Miner")
	const w = 7
	seed := sha256.Sum256([]byte("hash of the seed block of window 7"))
	idx, _ := bistro.Slices{Fraction: p.SliceFraction, Run: p.SliceRun}.Select(seed, base.Layout())
	pages, _ := bistro.NewPages(&p)
	tr := &train.MLP{}

	// What an honest miner uploads, and what a lazy one does.
	honest, _ := bistro.Recompute(ctx, &p, base, tr, ds, pages, w, miner.Hotkey(), idx)
	lazy := make([][]float32, len(idx))
	for t := range idx {
		lazy[t] = make([]float32, len(idx[t]))
	}
	for _, values := range [][][]float32{honest, lazy} {
		s, err := bistro.ScoreSlice(ctx, &p, base, tr, ds, nil,
			bistro.SliceInput{Window: w, Hotkey: miner.Hotkey(), Seed: seed, Values: values})
		if err != nil {
			panic(err)
		}
		fmt.Println(s.Verdict, s.Value)
	}
	// Output:
	// pass 1
	// fail 0
}
