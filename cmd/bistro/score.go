package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bistro-go/bistro/scoring"
)

const scoreSynopsis = `bistro score --params P --checkpoint C [--aggregate A]... --dataset D --window W --hotkey SS58 --seed HEX [--lead SS58] SLICE
       bistro score --request FILE|-`

// stdin is where --request - reads from (a variable for the tests).
var stdin io.Reader = os.Stdin

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// runScore scores one miner's slice file as a validator does (package
// scoring) and prints one JSON object on stdout: the score, or the error
// with its code. The exit status is 0 for a score (pass, fail or slash) and
// the code's own status for bad input (scoring.Code.ExitStatus).
func runScore(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("score", scoreSynopsis, stderr)
	params := fs.String("params", "", "the subnet's Params JSON `file`")
	checkpoint := fs.String("checkpoint", "", "a checkpoint `file` holding base(c), c ≤ the window")
	var aggregates stringsFlag
	fs.Var(&aggregates, "aggregate", "an aggregate `file` to replay onto the checkpoint; repeat for windows c−1 … W−2, in order")
	lead := fs.String("lead", "", "the SS58 `address` that must have signed the checkpoint and the aggregates (default: any valid signer)")
	dataset := fs.String("dataset", "", "the `dataset`: \"optics\" (the offline text, cut as the Params say), \"optics:PATH\", a manifest file, or a storage URL")
	datasetKey := fs.String("dataset-key", "", "the manifest's `key` in the storage --dataset names by URL (default manifest.json)")
	var window optUint64
	fs.Var(&window, "window", "the `window` of the slice")
	hotkey := fs.String("hotkey", "", "the miner's SS58 `address`")
	seed := fs.String("seed", "", "the `hash` of the window's seed block (64 hex digits)")
	request := fs.String("request", "", "read the whole request as JSON from `file` (\"-\": stdin) instead of the flags above")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n", scoreSynopsis)
		fmt.Fprintln(stderr, "Scores one miner's slice file as a validator does and prints one JSON object:")
		fmt.Fprintln(stderr, `  {"verdict":"pass|fail|slash","value":…,"rel_err":…|null,"reason":"…"}, or {"error":{"code":…,"message":…,"field":…}}`)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nexit status: 0 a score (pass, fail or slash); on bad input, by error code:")
		for _, c := range scoring.Codes() {
			fmt.Fprintf(stderr, "  %2d %s\n", c.ExitStatus(), c)
		}
	}
	answer := func(resp *scoring.Response) int {
		fmt.Fprintf(stdout, "%s\n", resp.Encode())
		if resp.Error == nil {
			return exitOK
		}
		fmt.Fprintf(stderr, "bistro score: %s: %s\n", resp.Error.Code, oneLine(resp.Error))
		return resp.Error.Code.ExitStatus()
	}
	usageErr := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintf(stdout, "%s\n", (&scoring.Response{Error: &scoring.Error{Code: scoring.BadRequest, Message: msg}}).Encode())
		fmt.Fprintf(stderr, "bistro score: %s (see bistro score -h)\n", msg)
		return scoring.BadRequest.ExitStatus()
	}

	pos, err := parseInterspersed(fs, args)
	if err != nil {
		// The flag package has reported it, with the usage.
		fmt.Fprintf(stdout, "%s\n", (&scoring.Response{Error: &scoring.Error{Code: scoring.BadRequest, Message: err.Error()}}).Encode())
		return scoring.BadRequest.ExitStatus()
	}
	if len(pos) > 1 {
		return usageErr("want one SLICE file, got %d arguments: %q", len(pos), pos)
	}
	ctx := context.Background()

	if *request != "" {
		others := 0
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "request" {
				others++
			}
		})
		if others > 0 || len(pos) > 0 {
			return usageErr("--request takes the whole request: give no other flags and no SLICE")
		}
		var r io.Reader = stdin
		if *request != "-" {
			f, err := os.Open(*request)
			if err != nil {
				return usageErr("--request: %s", oneLine(err))
			}
			defer f.Close()
			r = f
		}
		// One byte past the bound is enough for the parser to refuse it.
		b, err := io.ReadAll(io.LimitReader(r, scoring.MaxRequestBytes+1))
		if err != nil {
			return usageErr("--request: %s", oneLine(err))
		}
		return answer(scoring.ScoreDocument(ctx, b))
	}

	req := &scoring.Request{Params: *params, Checkpoint: *checkpoint, Aggregates: aggregates, Lead: *lead,
		Dataset: *dataset, DatasetKey: *datasetKey, Hotkey: *hotkey, Seed: *seed}
	if window.set {
		req.Window = &window.v
	}
	if len(pos) == 1 {
		req.Slice = pos[0]
	}
	return answer(scoring.Score(ctx, req))
}
