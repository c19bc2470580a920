// Command localrun runs a short local network — two honest miners, a lazy
// and a noisy one, one validator, six windows — and leaves its files on disk
// with the Params beside them, for the scoring examples:
//
//	go run ./examples/scoring/localrun -out /tmp/run
//	./scripts/libbistro
//	python3 examples/scoring/validator.py /tmp/run
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bistro-go/bistro/internal/localrun"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	def := localrun.DefaultOptions()
	fs := flag.NewFlagSet("localrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "folder for params.json and the buckets (required)")
	windows := fs.Int("windows", def.Windows, "windows to run (checkpoints every 4, from window 4 on)")
	seed := fs.String("seed", def.Seed, "seed of the run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: localrun -out DIR [-windows N] [-seed S]")
		return 2
	}
	o := def
	o.Windows, o.Seed = *windows, *seed
	r, err := localrun.Make(context.Background(), *out, o)
	if err != nil {
		fmt.Fprintln(stderr, "localrun:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d windows (%d … %d) in %s: params.json and buckets/\n", r.Report.Windows,
		r.Params.FirstWindow, r.Params.FirstWindow+uint64(r.Report.Windows)-1, r.Dir)
	for _, m := range r.Report.Miners {
		fmt.Fprintf(stdout, "  %-7s %s\n", m.Role, m.Hotkey)
	}
	return 0
}
