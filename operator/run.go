package operator

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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/client"
)

// ShutdownBound is how long a node may take to stop after SIGINT or
// SIGTERM before it exits with status 1 anyway.
const ShutdownBound = 30 * time.Second

// Main is a whole binary: flags of role from args, .env, logging, signals,
// Setup, then run with the node until a signal. It returns the exit status:
// 0 after a clean stop (or -h), 2 for a bad command line or configuration
// (one line on stderr), 1 for a failure while running.
func Main(role Role, args []string, run func(ctx context.Context, n *Node) error) int {
	return mainWith(role, args, os.Stderr, run)
}

func mainWith(role Role, args []string, stderr io.Writer, run func(ctx context.Context, n *Node) error) int {
	name := role.String()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f Flags
	f.Register(fs, role)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s --wallet.name W --wallet.hotkey H --netuid N --bucket B --params P [flags]\n\n", name)
		fmt.Fprintf(stderr, "Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (the bucket's write key), AWS_ENDPOINT_URL_S3\n"+
			"or R2_ACCOUNT_ID (with a bare bucket name), BISTRO_READ_ACCESS_KEY_ID and BISTRO_READ_SECRET_ACCESS_KEY\n"+
			"(the read-only key announced on chain); a .env file here is read too, the environment wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	if err := LoadDotEnv(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	log := NewLogger(&f, stderr).With("role", name)
	ctx, stop := SignalContext(context.Background(), log)
	defer stop()
	n, err := Setup(ctx, role, &f, log)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	defer n.Close()
	if err := run(ctx, n); err != nil && ctx.Err() == nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped cleanly")
	return 0
}

// SignalContext returns a context that ends at the first SIGINT or SIGTERM.
// A second signal, or ShutdownBound after the first, exits the process with
// status 1.
func SignalContext(parent context.Context, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			log.Info("stopping", "signal", s.String(), "bound", ShutdownBound)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			log.Error("second signal: exiting now", "signal", s.String())
		case <-time.After(ShutdownBound):
			log.Error("did not stop within the bound: exiting", "bound", ShutdownBound)
		case <-done:
			return
		}
		os.Exit(1)
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
}

// Close releases the chain connection.
func (n *Node) Close() error {
	if n.Client != nil {
		return n.Client.Close()
	}
	return nil
}

// serve starts the metrics server when --metrics.addr is set.
func (n *Node) serve(ctx context.Context) error {
	if n.Flags.MetricsAddr == "" {
		return nil
	}
	addr, err := n.Metrics.Serve(ctx, n.Flags.MetricsAddr)
	if err != nil {
		return &ConfigError{err}
	}
	n.Log.Info("metrics", "url", "http://"+addr.String()+"/metrics")
	return nil
}

// advanced is the node's OnAdvance: metrics, the held-out loss when the
// replica is current, and the progress line of the window.
func (n *Node) advanced(ctx context.Context, w uint64, d bistro.Hash, m bistro.Model, line func() []any) {
	n.Metrics.replica(w, d)
	attrs := []any{"window", w, "replica", d.String()[:8]}
	n.Metrics.mu.Lock()
	current := n.Metrics.readyWindow
	n.Metrics.mu.Unlock()
	if current > w {
		attrs = append(attrs, "behind", current-w)
	}
	if len(n.heldOut) > 0 && current <= w+1 {
		n.evaluate(ctx, w, m)
	}
	n.Log.Info("window", append(attrs, line()...)...)
}

// evaluator scores the held-out pages on a copy of the replica, off the
// loop's goroutine: the loss of a large model is seconds of compute that
// must not hold up a window's duties.
type evaluator struct {
	busy atomic.Bool
	copy bistro.Model // the replica's copy, reused
	buf  []float32
}

// evaluate copies base(w) (on the loop's goroutine, which owns m) and
// scores the held-out pages on the copy in the background; the "heldout"
// log line and the loss metric follow when it is done. While one runs, a
// newer base is not evaluated (the next one is).
func (n *Node) evaluate(ctx context.Context, w uint64, m bistro.Model) {
	e := &n.eval
	if !e.busy.CompareAndSwap(false, true) {
		n.Log.Debug("held-out loss skipped: the last one is still running", "window", w)
		return
	}
	if err := e.snapshot(n.Config.Trainer, n.Params.Model, m); err != nil {
		e.busy.Store(false)
		n.Log.Warn("held-out loss: copy the replica", "window", w, "err", err)
		return
	}
	go func() {
		defer e.busy.Store(false)
		loss, err := n.Config.Trainer.Loss(ctx, e.copy, n.heldOut)
		if err != nil {
			if ctx.Err() == nil {
				n.Log.Warn("held-out loss", "window", w, "err", err)
			}
			return
		}
		n.Metrics.HeldOut.Set(loss)
		n.Log.Info("heldout", "window", w, "heldout_loss", fmt.Sprintf("%.4f", loss))
	}()
}

// snapshot copies m into the evaluator's model, tensor by tensor.
func (e *evaluator) snapshot(tr bistro.Trainer, cfg bistro.ModelConfig, m bistro.Model) error {
	layout := m.Layout()
	if e.copy == nil {
		c, err := tr.NewModel(cfg)
		if err != nil {
			return err
		}
		e.copy = c
	}
	for t, spec := range layout {
		if n := spec.Len(); cap(e.buf) < n {
			e.buf = make([]float32, n)
		}
		buf := e.buf[:spec.Len()]
		if err := m.Read(t, buf); err != nil {
			return err
		}
		if err := e.copy.Write(t, buf); err != nil {
			return err
		}
	}
	return nil
}

// RunMiner runs the miner loop until ctx ends; strategy nil is the honest
// one (other strategies are for tests and research, never a flag).
func (n *Node) RunMiner(ctx context.Context, strategy bistro.MinerStrategy) error {
	cfg := n.Config
	var mn *bistro.Miner
	cfg.OnAdvance = func(w uint64, d bistro.Hash, m bistro.Model) {
		n.advanced(ctx, w, d, m, func() []any {
			st := mn.Stats()
			return []any{"trained", st.Trained, "uploaded", st.Uploaded, "missed", st.Missed, "retries", st.Retries}
		})
	}
	mn, err := bistro.NewMiner(cfg, strategy)
	if err != nil {
		return &ConfigError{err}
	}
	stat := func(f func(bistro.MinerStats) int) func() float64 {
		return func() float64 { return float64(f(mn.Stats())) }
	}
	reg := n.Metrics.counterFunc
	reg("updates_total", "updates computed", stat(func(s bistro.MinerStats) int { return s.Trained }))
	reg("pages_trained_total", "pages trained on", stat(func(s bistro.MinerStats) int { return s.Pages }))
	reg("slices_uploaded_total", "slices uploaded", stat(func(s bistro.MinerStats) int { return s.Uploaded }))
	reg("slices_missed_total", "slices not stored by their deadline", stat(func(s bistro.MinerStats) int { return s.Missed }))
	reg("retries_total", "duties retried at a later head", stat(func(s bistro.MinerStats) int { return s.Retries }))
	reg("heals_total", "re-syncs to the network's aggregate", stat(func(s bistro.MinerStats) int { return s.Healed }))
	reg("checkpoint_loads_total", "checkpoints loaded into the replica", func() float64 { return float64(mn.CheckpointLoads()) })
	if err := n.serve(ctx); err != nil {
		return err
	}
	n.Log.Info("mining", "uid", n.UID)
	return mn.Run(ctx)
}

// RunValidator runs the validator loop until ctx ends, with opts (nil
// fields take the defaults and the flags); the ledger lives in --state and
// is saved once more on the way out.
func (n *Node) RunValidator(ctx context.Context, opts bistro.ValidatorOptions) error {
	dir, err := n.stateDir()
	if err != nil {
		return err
	}
	if opts.StateDir == "" {
		opts.StateDir = dir
	}
	if opts.SpoolDir == "" && !n.Flags.SpoolMemory {
		opts.SpoolDir = filepath.Join(opts.StateDir, "spool")
	}
	if opts.SampleSize == 0 {
		opts.SampleSize = n.Flags.SampleSize
	}
	if opts.Scorer == nil {
		opts.Scorer = bistro.DefaultPassFail()
	}
	opts.Scorer = observedScorer{Scorer: opts.Scorer, m: n.Metrics}
	var (
		mu        sync.Mutex
		published = map[uint64]bool{}
	)
	user := opts.OnAggregate
	opts.OnAggregate = func(w uint64, manifest []bistro.ManifestEntry, dropped []bistro.UID) {
		mu.Lock()
		published[w] = true
		mu.Unlock()
		n.Metrics.Published.WithLabelValues("any").Inc()
		if user != nil {
			user(w, manifest, dropped)
		}
	}
	cfg := n.Config
	var v *bistro.Validator
	cfg.OnAdvance = func(w uint64, d bistro.Hash, m bistro.Model) {
		// base(w) applies the aggregate of w−2.
		mu.Lock()
		led := w >= 2 && published[w-2]
		delete(published, w-2)
		mu.Unlock()
		if led {
			n.Metrics.Lead.Set(1)
		} else {
			n.Metrics.Lead.Set(0)
		}
		n.advanced(ctx, w, d, m, func() []any {
			st := v.Stats()
			return []any{"scored", st.Recomputed, "fetched", st.Fetched, "rejected", st.Rejected,
				"weights_set", st.WeightsSet, "led", st.Led, "failed_over", st.FailedOver}
		})
	}
	v, err = bistro.NewValidator(cfg, opts)
	if err != nil {
		return &ConfigError{err}
	}
	stat := func(f func(bistro.ValidatorStats) int) func() float64 {
		return func() float64 { return float64(f(v.Stats())) }
	}
	reg := n.Metrics.counterFunc
	reg("windows_total", "windows scored and applied", stat(func(s bistro.ValidatorStats) int { return s.Windows }))
	reg("slices_fetched_total", "slices that passed the cheap checks", stat(func(s bistro.ValidatorStats) int { return s.Fetched }))
	reg("slices_rejected_total", "slices missing or failing the cheap checks", stat(func(s bistro.ValidatorStats) int { return s.Rejected }))
	reg("recomputations_total", "recomputations (its compute)", stat(func(s bistro.ValidatorStats) int { return s.Recomputed }))
	reg("failovers_total", "aggregates published at a rank above 0", stat(func(s bistro.ValidatorStats) int { return s.FailedOver }))
	reg("publications_abandoned_total", "publications given up at their rank's deadline", stat(func(s bistro.ValidatorStats) int { return s.Abandoned }))
	reg("aggregates_verified_total", "aggregates checked bit for bit", stat(func(s bistro.ValidatorStats) int { return s.Verified }))
	reg("aggregates_refused_total", "aggregates refused on proof", stat(func(s bistro.ValidatorStats) int { return s.Mismatches }))
	reg("equivocations_total", "equivocations proven", stat(func(s bistro.ValidatorStats) int { return s.Equivocators }))
	reg("heals_total", "re-syncs to the network's aggregate", stat(func(s bistro.ValidatorStats) int { return s.Healed }))
	reg("retries_total", "duties retried at a later head", stat(func(s bistro.ValidatorStats) int { return s.Retries }))
	reg("checkpoint_loads_total", "checkpoints loaded into the replica", func() float64 { return float64(v.CheckpointLoads()) })
	n.Metrics.gaugeFunc("fetch_concurrency", "parallel slice fetches, sized from measured throughput",
		stat(func(s bistro.ValidatorStats) int { return s.FetchConcurrency }))
	if err := n.serve(ctx); err != nil {
		return err
	}
	uids, _ := v.Ledger().Weights()
	n.Log.Info("validating", "uid", n.UID, "state", opts.StateDir, "spool", opts.SpoolDir, "sample", opts.SampleSize, "ledger_miners", len(uids))
	err = v.Run(ctx)
	if s, ok := v.Ledger().(bistro.LedgerSaver); ok {
		path := filepath.Join(opts.StateDir, "ledger.json")
		if serr := s.Save(path); serr != nil {
			n.Log.Error("saving the ledger", "err", serr)
			if err == nil && ctx.Err() == nil {
				err = serr
			}
		} else {
			n.Log.Info("ledger saved", "path", path)
		}
	}
	return err
}

// revealer keeps a validator's weights commitment until it is revealed
// (subnets with hash commit-reveal).
type revealer struct {
	c       *client.Client
	log     *slog.Logger
	mu      sync.Mutex
	pending *client.WeightsCommit
}

// CommitRevealChain returns chain with SetWeights going through hash
// commit-reveal on c (for subnets with commit_reveal_weights_enabled on):
// each call first reveals the commitment it made before once the reveal
// period has opened — bistro.ErrRateLimited until then, so the validator
// retries — or drops it when the period passed, then commits the new
// weights. Setup uses it where the subnet asks for it.
func CommitRevealChain(chain bistro.Chain, c *client.Client, log *slog.Logger) bistro.Chain {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return revealingChain{Chain: chain, r: &revealer{c: c, log: log}}
}

// revealingChain sets weights through commit_weights and reveal_weights: a
// call first reveals the pending commitment once its reveal period opens
// (ErrRateLimited before, so the validator retries), drops it when the
// period passed, then commits the new weights.
type revealingChain struct {
	bistro.Chain
	r *revealer
}

func (rc revealingChain) SetWeights(ctx context.Context, signer bistro.Signer, netuid uint16, uids []bistro.UID, weights []uint16, versionKey uint64) error {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pending; p != nil {
		first, last, err := r.c.RevealWindow(ctx, p)
		if errors.Is(err, client.ErrReveal) {
			r.log.Warn("weights commitment no longer on chain; committing anew", "committed_at", p.Block)
			r.pending = nil
		} else if err != nil {
			return err
		} else {
			head, err := r.c.Head(ctx)
			if err != nil {
				return err
			}
			switch {
			case head.Number < first:
				return fmt.Errorf("%w: weights committed at block %d are revealed from block %d", bistro.ErrRateLimited, p.Block, first)
			case head.Number > last:
				r.log.Warn("weights commitment's reveal period passed", "committed_at", p.Block, "last", last)
			default:
				if err := r.c.RevealWeights(ctx, signer, p); err != nil {
					return err
				}
				r.log.Info("weights revealed", "committed_at", p.Block, "uids", len(p.UIDs))
			}
			r.pending = nil
		}
	}
	wc, err := r.c.CommitWeights(ctx, signer, netuid, uids, weights, versionKey)
	if err != nil {
		return err
	}
	r.pending = wc
	r.log.Info("weights committed", "block", wc.Block, "uids", len(uids))
	return nil
}
