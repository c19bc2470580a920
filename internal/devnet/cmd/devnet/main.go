// Command devnet runs a local subnet with real parts — chopsticks on
// raonet.json, versitygw on 127.0.0.1, btcli wallets, registered hotkeys,
// the subnet's release — prints the commands that start each miner and
// validator, and runs until SIGINT or SIGTERM, then stops everything.
//
//	go run ./internal/devnet/cmd/devnet -dir /tmp/bistro-devnet -miners 3 -validators 2 -block-time 2s
//
// scripts/devnet installs chopsticks and versitygw first, then runs this.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bistro-go/bistro/internal/devnet"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	def := devnet.DefaultOptions("")
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", filepath.Join(os.TempDir(), "bistro-devnet"), "folder for wallets/, state/ and logs/ (state/ is emptied)")
	miners := fs.Int("miners", def.Miners, "miners to register")
	validators := fs.Int("validators", def.Validators, "validators to register (validator1 has the most stake: the lead)")
	netuid := fs.Uint("netuid", uint(def.NetUID), "the subnet (raonet has netuid 1)")
	blockTime := fs.Duration("block-time", def.BlockTime, "a block every this long, in real time")
	windowTime := fs.Duration("window-time", def.WindowTime, "target window length (blocks per window = window-time / block-time)")
	startDelay := fs.Duration("start-delay", def.StartDelay, "the first window starts at least this long after start")
	seed := fs.String("seed", def.Seed, "keys are //SEED//<name>")
	bin := fs.String("bin", devnet.GoRun, `folder with built "miner" and "validator" binaries, or "go run"`)
	keepLimit := fs.Bool("keep-commitment-rate-limit", false, "keep the runtime's 100-block commitment rate limit (restarted participants cannot commit again)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *netuid > 0xffff {
		fmt.Fprintln(stderr, "devnet: unexpected arguments or netuid out of range")
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	o := def
	o.Dir, o.Miners, o.Validators, o.NetUID = *dir, *miners, *validators, uint16(*netuid)
	o.BlockTime, o.WindowTime, o.StartDelay, o.Seed = *blockTime, *windowTime, *startDelay, *seed
	o.KeepCommitmentRateLimit = *keepLimit
	o.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := devnet.Start(ctx, o)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "devnet: interrupted during start")
			return 1
		}
		fmt.Fprintln(stderr, "devnet:", err)
		return 1
	}
	printSummary(stdout, d, *bin)
	<-ctx.Done()
	fmt.Fprintln(stderr, "devnet: stopping")
	start := time.Now()
	if err := d.Close(); err != nil {
		fmt.Fprintln(stderr, "devnet: close:", err)
		return 1
	}
	fmt.Fprintf(stderr, "devnet: stopped in %v (%d blocks built)\n", time.Since(start).Round(time.Millisecond), d.Blocks())
	return 0
}

func printSummary(w io.Writer, d *devnet.Devnet, bin string) {
	p := d.Params
	fmt.Fprintf(w, "bistro devnet: netuid %d on %s, S3 on %s\n", d.NetUID, d.ChainURL, d.S3.Endpoint)
	fmt.Fprintf(w, "  params   %s\n           digest %s\n", d.ParamsURL, p.Digest())
	fmt.Fprintf(w, "  genesis  %s\n           θ hash %s, signed by owner %s\n", d.GenesisURL, p.GenesisDigest, d.Owner)
	fmt.Fprintf(w, "  windows  %d blocks × %v = %v; grace %d, finality lag %d, failover %d; checkpoint every %d windows\n",
		p.BlocksPerWindow, p.BlockTime(), time.Duration(p.BlocksPerWindow)*p.BlockTime(), p.Grace, p.FinalityLag, p.FailoverDelay, p.CheckpointInterval)
	fmt.Fprintf(w, "  first    window %d (block %d)\n", p.FirstWindow, p.FirstWindow*p.BlocksPerWindow)
	if len(d.Participants) > 0 && d.Participants[0].Commitment.Bucket != "" {
		fmt.Fprintln(w, "  commitments: every participant's bucket commitment is on chain already (raonet takes one field per set_commitment, a bistro commitment has two); buckets are public-read")
	}
	if d.ClearsCommitmentLimit {
		fmt.Fprintf(w, "  commitments: the runtime's %d-block rate limit is lifted (a restarted participant can commit again)\n", d.CommitmentRateLimit)
	}
	fmt.Fprintln(w, "\nParticipants:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\tuid\thotkey\tstake (rao)\tbucket")
	for _, pt := range d.Participants {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\n", pt.Name, pt.UID, pt.Hotkey, pt.Stake, pt.Bucket)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nS3 credentials (throwaway, made up for this devnet's server on loopback):\n  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n", d.S3.AccessKey, d.S3.SecretKey)
	where := "from the repository's root"
	if bin != devnet.GoRun && bin != "" {
		where = "binaries in " + bin
	}
	fmt.Fprintf(w, "\nStart each participant in its own terminal (%s):\n\n", where)
	for _, c := range d.Commands(bin) {
		fmt.Fprintf(w, "# %s\n%s\n\n", c.Participant, c)
	}
	fmt.Fprintln(w, "Running; Ctrl-C stops the chain and the S3 server.")
}
