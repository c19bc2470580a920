// Command localnet runs a whole BISTRO network in one process — a local chain
// in lockstep, honest miners, adversaries and validators — and shows that
// honest training pays and cheating does not.
//
//	go run ./examples/localnet                          # the defaults
//	go run ./examples/localnet -adversaries lazy=2,churn=1 -windows 40 -out ./run
//	go run ./examples/localnet -json > report.json      # one JSON object on stdout
//	go run ./examples/localnet -baseline                # efficiency against data-parallel training
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/localnet"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	def := localnet.DefaultOptions()
	fs := flag.NewFlagSet("localnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	miners := fs.Int("miners", def.Miners, "honest miners")
	validators := fs.Int("validators", def.Validators, "validators (validator 0 has the most stake and leads)")
	advs := fs.String("adversaries", "all", `adversaries as name=count, comma-separated ("all": each built-in once; "none")`)
	windows := fs.Int("windows", def.Windows, "windows to train and score")
	seed := fs.String("seed", def.Seed, "seed of the run (keys, block hashes, θ₀, samplers)")
	samplerSeed := fs.String("sampler-seed", "", "seed of the validators' samplers alone (empty: -seed)")
	out := fs.String("out", "", "folder for charts and state (default: a new temporary folder)")
	asJSON := fs.Bool("json", false, "print exactly one JSON object on stdout; everything else goes to stderr")
	sample := fs.Int("sample", def.SampleSize, "miners each validator recomputes per window")
	verbose := fs.Bool("v", false, "log the participants' work to stderr")
	modelName := fs.String("model", "mlp", `architecture: "mlp" (fast) or "gpt-tiny" (GPT-2 tiny preset: slow on a CPU)`)
	ledger := fs.String("ledger", localnet.LedgerVerified, "validators' ledger rule: "+localnet.LedgerVerified+" (pay only for verified work) or "+localnet.LedgerMovingAverage+" (v1)")
	withBaseline := fs.Bool("baseline", false, "also train a data-parallel baseline on the same data and report the network's efficiency against it")
	fraction := fs.Float64("slice-fraction", 0, "Params slice_fraction f (0: the network's default)")
	lr := fs.Float64("lr", 0, "Params lr.base, constant schedule (0: the network's default)")
	lrScale := fs.String("lr-scale", "", "Params lr_scale: none or inverse-fraction/v1 (empty: the network's default)")
	inner := fs.Uint("inner-steps", 0, "Params inner_steps H (0: the network's default)")
	innerOpt := fs.String("inner-optimizer", "", `Params inner_optimizer: "sgd" or "adamw" (adamw/v1 with β1 0.9, β2 0.999, ε 1e-8; empty: the network's default)`)
	weightDecay := fs.Float64("weight-decay", -1, "Params inner_optimizer.weight_decay under adamw (negative: 0.01)")
	outerOpt := fs.String("outer-optimizer", "", `Params outer_optimizer: "sgd" (θ += aggregate) or "nesterov" (nesterov/v1, lazy at the touched indices; empty: the network's default)`)
	outerLR := fs.Float64("outer-lr", 0.7, "Params outer_optimizer.lr under nesterov")
	outerMomentum := fs.Float64("outer-momentum", 0.9, "Params outer_optimizer.momentum under nesterov")
	pagesPerWindow := fs.Uint("pages", 0, "Params pages_per_window, pages per miner per window (0: the network's default)")
	chaos := fs.String("chaos", "", "a named fault scenario ("+strings.Join(localnet.Scenarios(), ", ")+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := def
	opts.Miners, opts.Validators, opts.Windows, opts.Seed, opts.SampleSize = *miners, *validators, *windows, *seed, *sample
	opts.SamplerSeed = *samplerSeed
	opts.Model = *modelName
	if opts.Model == "gpt-tiny" {
		opts.PageLength = 129 // one full sequence of the tiny GPT per page
	}
	opts.Ledger = *ledger
	opts.Baseline = *withBaseline
	switch *innerOpt {
	case "", "sgd", "adamw":
	default:
		fmt.Fprintf(stderr, "localnet: -inner-optimizer %q: want sgd or adamw\n", *innerOpt)
		return 2
	}
	switch *outerOpt {
	case "", "sgd", "nesterov":
	default:
		fmt.Fprintf(stderr, "localnet: -outer-optimizer %q: want sgd or nesterov\n", *outerOpt)
		return 2
	}
	if *fraction != 0 || *lr != 0 || *lrScale != "" || *inner != 0 || *innerOpt != "" || *outerOpt != "" || *pagesPerWindow != 0 {
		opts.Params = func(p *bistro.Params) {
			if *fraction != 0 {
				p.SliceFraction = *fraction
			}
			if *lr != 0 {
				p.LR = bistro.Schedule{Kind: bistro.ConstantLR, Base: *lr}
			}
			if *lrScale != "" {
				p.LRScale = *lrScale
			}
			if *inner != 0 {
				p.InnerSteps = uint32(*inner)
			}
			if *pagesPerWindow != 0 {
				p.PagesPerWindow = uint32(*pagesPerWindow)
			}
			switch *innerOpt {
			case "sgd":
				p.InnerOptimizer = bistro.SGD()
			case "adamw":
				p.InnerOptimizer = bistro.AdamW()
				if *weightDecay >= 0 {
					p.InnerOptimizer.WeightDecay = *weightDecay
				}
			}
			switch *outerOpt {
			case "sgd":
				p.OuterOptimizer = bistro.OuterPlain()
			case "nesterov":
				p.OuterOptimizer = bistro.Nesterov(*outerLR, *outerMomentum)
			}
		}
	}
	var err error
	if *chaos != "" {
		if opts.Chaos, err = localnet.Scenario(*chaos); err != nil {
			fmt.Fprintln(stderr, "localnet:", err)
			return 2
		}
	}
	if opts.Adversaries, err = parseAdversaries(*advs); err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 2
	}
	dir := *out
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bistro-localnet-"); err != nil {
			fmt.Fprintln(stderr, "localnet:", err)
			return 1
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 1
	}
	opts.Dir = dir
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	progress := stderr
	if !*asJSON {
		progress = stdout
	}
	start := time.Now()
	fmt.Fprintf(progress, "bistro local network: %d honest miners, %d adversaries, %d validators, %d windows (seed %q)\n",
		opts.Miners, len(opts.Adversaries), opts.Validators, opts.Windows, opts.Seed)
	if opts.Chaos != nil {
		fmt.Fprintf(progress, "chaos: %s at window %d\n", opts.Chaos.Name, opts.Chaos.At)
	}
	roles := []string{}
	for i := 0; i < opts.Miners; i++ {
		roles = append(roles, "honest")
	}
	for _, a := range opts.Adversaries {
		roles = append(roles, a.Name())
	}
	opts.Progress = func(r localnet.WindowReport) {
		done := r.Window + 1
		bar := strings.Repeat("█", done*20/opts.Windows) + strings.Repeat("·", 20-done*20/opts.Windows)
		var sc []string
		for i, s := range r.Scores {
			sc = append(sc, fmt.Sprintf("%s %.2f", short(roles[i]), s))
		}
		fmt.Fprintf(progress, "%s %3d/%d  loss %.4f  scores: %s\n", bar, done, opts.Windows, r.Loss, strings.Join(sc, " "))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := localnet.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 1
	}
	if err := rep.WriteCharts(dir); err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 1
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			fmt.Fprintln(stderr, "localnet:", err)
			return 1
		}
	} else {
		fmt.Fprintln(stdout)
		if err := rep.WriteTable(stdout); err != nil {
			return 1
		}
	}
	fmt.Fprintf(progress, "charts and state in %s (%s)\n", dir, time.Since(start).Round(time.Millisecond))
	if !rep.DigestsAgree {
		return 1
	}
	return 0
}

func short(role string) string {
	if len(role) > 5 {
		return role[:5]
	}
	return role
}

// parseAdversaries reads "lazy=1,copy=2", "all" or "none".
func parseAdversaries(s string) ([]localnet.Adversary, error) {
	switch s {
	case "all":
		return localnet.DefaultOptions().Adversaries, nil
	case "none", "":
		return nil, nil
	}
	var out []localnet.Adversary
	for _, part := range strings.Split(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(part), "=")
		n := 1
		if ok {
			var err error
			if n, err = strconv.Atoi(count); err != nil || n < 0 {
				return nil, fmt.Errorf("adversaries: bad count in %q", part)
			}
		}
		a, err := localnet.Builtin(name)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("adversaries: none named")
	}
	return out, nil
}
