package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/atomicfile"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/tokens"
)

const genesisSynopsis = "bistro genesis --out DIR [--arch mlp|gpt2] [--preset tiny|small] [--dataset MANIFEST] [flags]"

// datasetFolder is the folder of a release (beside params.json) that holds a
// token dataset: manifest.json and its shards, as `bistro manifest --out`
// writes them and `bistro publish` uploads them.
const datasetFolder = "dataset"

// runGenesis draws θ₀ from a seed and writes the genesis checkpoint and the
// Params that pin it: what a subnet owner publishes before the first window.
func runGenesis(args []string, stdout, stderr io.Writer) int {
	d := bistro.DefaultParams(1)
	fs := newFlagSet("bistro genesis", genesisSynopsis, stderr)
	out := fs.String("out", "", "folder for genesis.safetensors and params.json (required)")
	arch := fs.String("arch", "mlp", "model architecture: mlp (mlp/v1) or gpt2 (gpt2/v1)")
	preset := fs.String("preset", "tiny", "gpt2 shapes: tiny (4 layers, width 256, bytes, context 128) or small (GPT-2 124M, GPT-2 tokens, context 1024)")
	seed := fs.String("seed", "bistro genesis", "text the θ₀ seed is derived from: SHA-256(\"bistro/genesis\\x00\" ‖ text)")
	key := fs.String("key", "//Alice", "secret URI of the key that signs the checkpoint (the subnet owner's)")
	netuid := fs.Uint("netuid", 1, "the subnet")
	context := fs.Uint("context", 8, "mlp/v1 context bytes")
	embed := fs.Uint("embed", 16, "mlp/v1 embedding width")
	hidden := fs.Uint("hidden", 64, "mlp/v1 hidden width")
	dataset := fs.String("dataset", "", "pin this token dataset's manifest.json (from bistro manifest; keep it in DIR/dataset/ for bistro publish) "+
		"instead of the offline Opticks text (bytes for mlp and gpt2 tiny; tokenized with GPT-2 into DIR/dataset/ for gpt2 small)")
	pageLength := fs.Int("page-length", 0, "tokens per page of the offline dataset (0: 256 for mlp, context+1 for gpt2)")
	heldOut := fs.Int("held-out", 16, "held-out pages of the offline dataset")
	blocks := fs.Uint64("blocks-per-window", d.BlocksPerWindow, "blocks per window, B")
	blockMS := fs.Uint64("block-time-ms", d.BlockTimeMS, "the chain's block time in milliseconds")
	grace := fs.Uint64("grace", d.Grace, "blocks after a window's end that its slices may still arrive, G (G × block time ≥ the upload time)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bistro genesis: %s\n", fmt.Sprintf(format, a...))
		return exitUsage
	}
	switch {
	case *out == "" || *netuid > 0xffff:
		return usageErr("--out is required and --netuid must fit 16 bits")
	case *arch != "mlp" && *arch != "gpt2":
		return usageErr("--arch %q: want mlp or gpt2", *arch)
	case *preset != "tiny" && *preset != "small":
		return usageErr("--preset %q: want tiny or small", *preset)
	case *pageLength < 0 || *pageLength == 1:
		return usageErr("--page-length %d: want at least 2 (or 0 for the default)", *pageLength)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bistro genesis: %s\n", oneLine(err))
		return exitFail
	}
	signer, err := bistro.KeypairFromURI(*key)
	if err != nil {
		return fail(err)
	}
	theta := sha256.Sum256([]byte("bistro/genesis\x00" + *seed))
	var (
		cfg    bistro.ModelConfig
		theta0 *bistro.MemModel
		tok    tokens.Tokenizer = tokens.Bytes{}
	)
	switch *arch {
	case "mlp":
		if cfg, err = train.NewMLPConfig(256, uint32(*context), uint32(*embed), uint32(*hidden)); err != nil {
			return fail(err)
		}
		if *pageLength == 0 {
			*pageLength = 256
		}
	case "gpt2":
		cfg = train.GPTTiny()
		if *preset == "small" {
			cfg = train.GPT2Small()
		}
		if *pageLength == 0 {
			*pageLength = int(cfg.Context) + 1 // one full sequence a page
		}
	}
	if cfg.Vocab > 256 {
		if tok, err = tokens.NewGPT2(); err != nil {
			return fail(err)
		}
	}

	p := bistro.DefaultParams(uint16(*netuid))
	p.BlocksPerWindow, p.BlockTimeMS, p.Grace = *blocks, *blockMS, *grace
	p.LR = bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.5}
	if *arch == "gpt2" {
		// The recommended GPT Params (README "Training efficiency"; what
		// localnet runs gpt-tiny with): plain SGD at lr 0.5 oscillates;
		// two AdamW steps per window (adamw/v1), each of 0.001 per
		// coordinate on the slice (lr 0.00025 scaled by 1/f, f = 0.25),
		// fall every window and end lower than SGD's best.
		p.SliceFraction, p.LRScale, p.InnerSteps = 0.25, bistro.LRScaleInverseFraction, 2
		p.InnerOptimizer = bistro.AdamW()
		p.LR.Base = 0.00025
	}
	var dsNote string
	switch {
	case *dataset != "":
		m, digest, err := readManifest(*dataset)
		if err != nil {
			return fail(err)
		}
		if m.Vocab > cfg.Vocab {
			return fail(fmt.Errorf("%s: vocabulary %d (%s tokens) exceeds the model's %d", *dataset, m.Vocab, m.Tokenizer, cfg.Vocab))
		}
		p.PageLength, p.DatasetPages, p.DatasetDigest = m.PageLength, m.Pages()-m.HeldOut, digest
		dsNote = fmt.Sprintf("dataset: %s (%s tokens), %d pages of %d", *dataset, m.Tokenizer, p.DatasetPages, p.PageLength)
	case tok.Name() == tokens.BytesName:
		ds, err := data.OpenOptics(data.OpticsOptions{PageLength: *pageLength, HeldOut: *heldOut})
		if err != nil {
			return fail(err)
		}
		p.PageLength, p.DatasetPages, p.DatasetDigest = uint32(*pageLength), ds.Pages(), ds.Digest()
		dsNote = fmt.Sprintf("dataset: the offline Opticks text as bytes, %d pages of %d", p.DatasetPages, p.PageLength)
	default:
		folder := filepath.Join(*out, datasetFolder)
		m, digest, err := buildOptics(folder, tok, *pageLength, *heldOut)
		if err != nil {
			return fail(err)
		}
		p.PageLength, p.DatasetPages, p.DatasetDigest = m.PageLength, m.Pages()-m.HeldOut, digest
		dsNote = fmt.Sprintf("dataset: the offline Opticks text as %s tokens in %s, %d pages of %d", tok.Name(), folder,
			p.DatasetPages, p.PageLength)
	}
	switch *arch {
	case "mlp":
		theta0, err = train.InitMLP(cfg, theta)
	default:
		theta0, err = train.InitGPT(cfg, theta)
	}
	if err != nil {
		return fail(err)
	}
	digest, err := bistro.ThetaHash(theta0)
	if err != nil {
		return fail(err)
	}
	p.Model, p.GenesisDigest = cfg, digest
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
	// params.json last: a folder with params.json is complete.
	for _, w := range []struct {
		name string
		b    []byte
	}{{"genesis.safetensors", ck}, {"params.json", pj.Bytes()}} {
		if err := atomicfile.Write(filepath.Join(*out, w.name), w.b); err != nil {
			return fail(err)
		}
	}
	shape := fmt.Sprintf("%d/%d/%d", cfg.Context, cfg.Embed, cfg.Hidden)
	if *arch == "gpt2" {
		shape = fmt.Sprintf("%s: %d layers, %d heads, width %d, context %d, vocabulary %d", *preset, cfg.Layers, cfg.Heads,
			cfg.Embed, cfg.Context, cfg.Vocab)
	}
	fmt.Fprintf(stdout, "θ₀: %s %s, %d parameters, θ hash %s\n%s\nwrote %s and %s (params digest %s)\n",
		cfg.Arch, shape, cfg.Parameters, digest, dsNote,
		filepath.Join(*out, "genesis.safetensors"), filepath.Join(*out, "params.json"), p.Digest())
	return exitOK
}

// readManifest reads and parses a manifest file and returns it with its
// digest (the SHA-256 of its bytes, what Params pins).
func readManifest(path string) (*data.Manifest, bistro.Hash, error) {
	b, err := readCapped(path, data.MaxManifestBytes)
	if err != nil {
		return nil, bistro.Hash{}, err
	}
	m, err := data.ParseManifest(b)
	if err != nil {
		return nil, bistro.Hash{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, sha256.Sum256(b), nil
}

// buildOptics tokenizes the offline Opticks text, as one document, into a
// token dataset in folder: what a gpt2 small genesis pins without --dataset.
func buildOptics(folder string, tok tokens.Tokenizer, pageLength, heldOut int) (*data.Manifest, bistro.Hash, error) {
	path, err := data.DefaultOpticsPath()
	if err != nil {
		return nil, bistro.Hash{}, err
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, bistro.Hash{}, err
	}
	st, err := dir.New(folder)
	if err != nil {
		return nil, bistro.Hash{}, err
	}
	ctx := context.Background()
	b, err := data.NewBuilder(st, data.BuildOptions{Tokenizer: tok, PageLength: pageLength, HeldOut: uint64(heldOut)})
	if err != nil {
		return nil, bistro.Hash{}, err
	}
	if err := b.Add(ctx, text); err != nil {
		return nil, bistro.Hash{}, err
	}
	m, _, digest, err := b.Finish(ctx)
	return m, digest, err
}
