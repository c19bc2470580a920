// Command llmcfiles writes the files that llm.c's train_gpt2 reads from its
// working directory, for one of package train's gpt2/v1 presets: the model
// (InitGPT's θ₀ of a fixed seed) as gpt2_124M.bin, whatever its size, and
// the Opticks text (bytes for tiny, GPT-2 BPE for small) as its training and
// validation token files, the first 90% and the last 10%.
//
//	go run ./train/llmc/cmd/llmcfiles -preset tiny -dir /tmp/llmc-tiny
//	cd /tmp/llmc-tiny && OMP_NUM_THREADS=1 /path/to/train_gpt2
//
// With -val B,T it also prints the mean loss of the model on the 5
// validation batches that train_gpt2 evaluates before its first step (B
// sequences of T predictions each, read consecutively from the validation
// tokens), as computed by train.GPT, to compare with llm.c's "val loss".
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
	"github.com/bistro-go/bistro/train/llmc"
	"github.com/bistro-go/bistro/train/tokens"
)

// Paths inside the working directory, as train_gpt2.c's main names them.
const (
	checkpointFile = "gpt2_124M.bin"
	trainFile      = "dev/data/tinyshakespeare/tiny_shakespeare_train.bin"
	valFile        = "dev/data/tinyshakespeare/tiny_shakespeare_val.bin"
	valBatches     = 5
)

func main() {
	preset := flag.String("preset", "tiny", "tiny (train.GPTTiny) or small (train.GPT2Small)")
	dir := flag.String("dir", "", "directory to write into (created)")
	val := flag.String("val", "", "B,T: print our loss on train_gpt2's validation batches")
	flag.Parse()
	if *dir == "" {
		log.Fatal("llmcfiles: -dir is required")
	}
	var cfg bistro.ModelConfig
	var tok tokens.Tokenizer = tokens.Bytes{}
	switch *preset {
	case "tiny":
		cfg = train.GPTTiny()
	case "small":
		cfg = train.GPT2Small()
		g, err := tokens.NewGPT2()
		if err != nil {
			log.Fatal(err)
		}
		tok = g
	default:
		log.Fatalf("llmcfiles: unknown preset %q", *preset)
	}
	m, err := train.InitGPT(cfg, bistro.Hash{'l', 'l', 'm', '.', 'c'})
	if err != nil {
		log.Fatal(err)
	}
	ids, err := opticsTokens(tok)
	if err != nil {
		log.Fatal(err)
	}
	cut := len(ids) * 9 / 10
	if err := write(filepath.Join(*dir, checkpointFile), func(f *os.File) error {
		return llmc.WriteCheckpoint(f, cfg, m)
	}); err != nil {
		log.Fatal(err)
	}
	if err := write(filepath.Join(*dir, trainFile), func(f *os.File) error {
		return llmc.WriteTokens(f, ids[:cut])
	}); err != nil {
		log.Fatal(err)
	}
	if err := write(filepath.Join(*dir, valFile), func(f *os.File) error {
		return llmc.WriteTokens(f, ids[cut:])
	}); err != nil {
		log.Fatal(err)
	}
	if *val == "" {
		return
	}
	var b, t int
	if _, err := fmt.Sscanf(*val, "%d,%d", &b, &t); err != nil || b < 1 || t < 1 {
		log.Fatalf("llmcfiles: -val %q: want B,T", *val)
	}
	v := ids[cut:]
	var pages [][]int32
	for i := range valBatches * b {
		if (i+1)*t+1 > len(v) {
			log.Fatalf("llmcfiles: %d validation tokens are too few for %d batches of %d×%d", len(v), valBatches, b, t)
		}
		pages = append(pages, v[i*t:(i+1)*t+1])
	}
	tr, err := train.NewGPT(cfg)
	if err != nil {
		log.Fatal(err)
	}
	loss, err := tr.Loss(context.Background(), m, pages)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("val loss %f\n", loss)
}

// opticsTokens returns the Opticks text, checked against its pinned digest,
// as tokens of tok.
func opticsTokens(tok tokens.Tokenizer) ([]int32, error) {
	path, err := data.DefaultOpticsPath()
	if err != nil {
		return nil, err
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want, err := bistro.ParseHash(data.OpticsSHA256)
	if err != nil {
		return nil, err
	}
	if bistro.Hash(sha256.Sum256(text)) != want {
		return nil, fmt.Errorf("%w: %s", data.ErrDigest, path)
	}
	return tok.Encode(nil, text)
}

func write(path string, f func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(out); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Close()
}
