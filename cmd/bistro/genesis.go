package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/atomicfile"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// runGenesis draws θ₀ from a seed and writes the genesis checkpoint and the
// Params that pin it: what a subnet owner publishes before the first window.
func runGenesis(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bistro genesis", "bistro genesis --out DIR [flags]", stderr)
	out := fs.String("out", "", "folder for genesis.safetensors and params.json (required)")
	seed := fs.String("seed", "bistro genesis", "text the θ₀ seed is derived from: SHA-256(\"bistro/genesis\\x00\" ‖ text)")
	key := fs.String("key", "//Alice", "secret URI of the key that signs the checkpoint (the subnet owner's)")
	netuid := fs.Uint("netuid", 1, "the subnet")
	context := fs.Uint("context", 8, "mlp/v1 context bytes")
	embed := fs.Uint("embed", 16, "mlp/v1 embedding width")
	hidden := fs.Uint("hidden", 64, "mlp/v1 hidden width")
	pageLength := fs.Int("page-length", 256, "tokens per page of the offline dataset")
	heldOut := fs.Int("held-out", 16, "held-out pages of the offline dataset")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return exitUsage
	}
	if *out == "" || *netuid > 0xffff {
		fmt.Fprintln(stderr, "bistro genesis: --out is required and --netuid must fit 16 bits")
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "bistro genesis:", err)
		return exitFail
	}
	signer, err := bistro.KeypairFromURI(*key)
	if err != nil {
		return fail(err)
	}
	cfg, err := train.NewMLPConfig(256, uint32(*context), uint32(*embed), uint32(*hidden))
	if err != nil {
		return fail(err)
	}
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: *pageLength, HeldOut: *heldOut})
	if err != nil {
		return fail(err)
	}
	theta0, err := train.InitMLP(cfg, sha256.Sum256([]byte("bistro/genesis\x00"+*seed)))
	if err != nil {
		return fail(err)
	}
	digest, err := bistro.ThetaHash(theta0)
	if err != nil {
		return fail(err)
	}
	p := bistro.DefaultParams(uint16(*netuid))
	p.Model, p.GenesisDigest = cfg, digest
	p.PageLength, p.DatasetPages, p.DatasetDigest = uint32(*pageLength), ds.Pages(), ds.Digest()
	p.LR = bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.5}
	var pj bytes.Buffer
	if err := bistro.WriteParams(&pj, &p); err != nil {
		return fail(err)
	}
	layout := theta0.Layout()
	f := &bistro.File{Kind: bistro.KindCheckpoint, NetUID: p.NetUID, Window: p.FirstWindow, Params: p.Digest(),
		Base: digest, Theta: digest, Tensors: make([][]float32, len(layout))}
	for t := range layout {
		f.Tensors[t] = theta0.Tensor(t)
	}
	ck, err := bistro.Encode(f, layout, signer)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(err)
	}
	for name, b := range map[string][]byte{"params.json": pj.Bytes(), "genesis.safetensors": ck} {
		if err := atomicfile.Write(filepath.Join(*out, name), b); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintf(stdout, "θ₀: mlp/v1 %d/%d/%d, %d parameters, θ hash %s\nwrote %s and %s (params digest %s)\n",
		cfg.Context, cfg.Embed, cfg.Hidden, cfg.Parameters, digest,
		filepath.Join(*out, "genesis.safetensors"), filepath.Join(*out, "params.json"), p.Digest())
	return exitOK
}
