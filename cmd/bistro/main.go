// Command bistro is the operator's tool for a BISTRO subnet: it shows and
// checks Params files and inspects and verifies protocol files (slices,
// aggregates and checkpoints) offline, without a chain or a bucket; it
// builds token datasets, and makes (genesis) and uploads (publish) the
// release a subnet owner starts a subnet with.
//
// Usage:
//
//	bistro params show [--json] [--miners N] FILE
//	bistro inspect [--json] [--max-bytes N] [--require-valid] FILE
//	bistro verify --params P [--window W] [--layout L.json] [--seed HEX] [--base HEX] [--hotkey SS58] FILE
//	bistro manifest --page-length L [--tokenizer gpt2|bytes] (--out DIR | --store URL) SRC
//	bistro genesis --out DIR [--arch mlp|gpt2] [--preset tiny|small] [--dataset MANIFEST] [--seed TEXT] [--key URI]
//	    [--context C --embed E --hidden H] [--page-length L] [--blocks-per-window B] [--block-time-ms T] [--grace G]
//	bistro publish --to URL [--prefix P] DIR
//	bistro score --params P --checkpoint C [--aggregate A]... --dataset D --window W --hotkey SS58 --seed HEX [--lead SS58] SLICE
//
// A release is the folder genesis writes: params.json, genesis.safetensors
// and, when the dataset is a token manifest, dataset/ (manifest.json and its
// shards). publish checks it and uploads it to
// <prefix>/params.json, <prefix>/genesis.safetensors and
// <prefix>/dataset/…, params.json last, and prints the --params URL
// participants pass (s3://bucket/<prefix>/params.json?<the same query>).
//
// Results go to stdout, errors to stderr. The exit status is 0 on success, 1
// when a file is invalid or cannot be read, and 2 on a usage error; score
// prints one JSON object in every case and exits 0 for a score (pass, fail
// or slash) and with a status per error code on bad input (bistro score -h).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bistro-go/bistro"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the file is invalid, or could not be read
	exitUsage = 2 // the command line is wrong
)

const usage = `usage: bistro <command> [flags] [args]

commands:
  params show [--json] [--miners N] FILE
        load and validate a Params JSON file; print every field, the digest
        and the derived time budget
  inspect [--json] [--max-bytes N] [--require-valid] FILE
        print what a slice, aggregate or checkpoint file says about itself,
        its tensors and whether its signature verifies
  verify --params P [--window W] [--layout L.json] [--seed HEX] [--base HEX]
         [--hotkey SS58] [--max-bytes N] FILE
        decode FILE with every expectation the protocol has and report OK or
        the first rejection
  manifest --page-length L [--tokenizer gpt2|bytes] (--out DIR | --store URL) SRC
        build a token-shard dataset (manifest.json and shards) from a folder
        of .txt or .parquet files; see bistro manifest -h
  genesis --out DIR [--arch mlp|gpt2] [--preset tiny|small] [--dataset MANIFEST]
          [--seed TEXT] [--key URI] [--netuid N] [--context C] [--embed E]
          [--hidden H] [--page-length L] [--held-out N] [--blocks-per-window B]
          [--block-time-ms T] [--grace G]
        draw θ₀ of an mlp/v1 or gpt2/v1 (tiny, or small: GPT-2 124M) model
        from a seed, write it as a signed checkpoint (genesis.safetensors) and
        a Params file pinning its digest and the dataset (params.json): the
        offline Opticks text, in GPT-2 tokens under DIR/dataset/ for gpt2
        small, or the token manifest given by --dataset
  publish --to URL [--prefix P] DIR
        check a release folder (params.json, genesis.safetensors, optional
        dataset/) and upload it to s3://bucket[/prefix]?endpoint=…, file:///…
        (default prefix bistro/release), params.json last; print the --params
        URL participants pass
  score --params P --checkpoint C [--aggregate A]... --dataset D --window W
        --hotkey SS58 --seed HEX [--lead SS58] SLICE      (or --request FILE|-)
        score one miner's slice as a validator does: the checks, then the
        recomputation on base(W) (the checkpoint with the aggregates
        replayed); one JSON object: verdict, value, rel_err, reason, or an
        error with its code; see bistro score -h
  help  print this message

Flags may come before or after FILE. Exit status: 0 ok, 1 invalid file, 2 usage
(score: 0 for a score, pass or fail, and one status per error code).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, writes results to stdout and
// errors to stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, usage)
		return exitUsage
	case "params":
		return runParams(rest, stdout, stderr)
	case "inspect":
		return runInspect(rest, stdout, stderr)
	case "verify":
		return runVerify(rest, stdout, stderr)
	case "manifest":
		return runManifest(rest, stdout, stderr)
	case "genesis":
		return runGenesis(rest, stdout, stderr)
	case "score":
		return runScore(rest, stdout, stderr)
	case "publish":
		return runPublish(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "bistro: unknown command %q (want params, inspect, verify, manifest, genesis, publish or score; see bistro help)\n", cmd)
		return exitUsage
	}
}

// newFlagSet returns a FlagSet for a subcommand that reports to stderr and
// returns errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags placed anywhere among the positional arguments
// ("verify FILE --params P" as well as "verify --params P FILE") and checks
// that exactly want positional arguments remain. Everything after "--" is
// positional. A non-nil error has been reported already.
func parseArgs(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != want {
		err := fmt.Errorf("want %d argument(s), got %d: %q", want, len(pos), pos)
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		fs.Usage()
		return nil, err
	}
	return pos, nil
}

// parseInterspersed parses flags placed anywhere among the positional
// arguments and returns the positional ones; everything after "--" is
// positional. A non-nil error has been reported already.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// sentinels are the root package's error classes, in the order they are
// tried; each decoder rejection wraps exactly one of them.
var sentinels = []error{
	bistro.ErrBadSignature,
	bistro.ErrWrongParams,
	bistro.ErrWrongWindow,
	bistro.ErrWrongNetUID,
	bistro.ErrWrongKind,
	bistro.ErrWrongSeed,
	bistro.ErrWrongBase,
	bistro.ErrWrongHotkey,
	bistro.ErrWrongShape,
	bistro.ErrWrongProtocol,
	bistro.ErrNonFinite,
	bistro.ErrMalformed,
	bistro.ErrTooLarge,
	bistro.ErrNormBound,
	bistro.ErrInvalidParams,
	bistro.ErrLayout,
	errThetaMismatch,
	errGenesisMismatch,
	errDatasetMismatch,
}

// errClass names the sentinel err wraps, as the sentinel says it without
// the package prefix ("bad signature", "wrong params digest"), or "error".
func errClass(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return strings.TrimPrefix(s.Error(), "bistro: ")
		}
	}
	return "error"
}

// oneLine makes an error message fit one line of a log.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// readCapped reads the file at path, refusing before reading one of more
// than max bytes (and one that grows past max while it is read).
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes > --max-bytes %d", path, bistro.ErrTooLarge, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: grew past --max-bytes %d while read", path, bistro.ErrTooLarge, max)
	}
	return b, nil
}
