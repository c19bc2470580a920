// Package localnet runs a whole BISTRO network in one process: a local chain
// in lockstep (subtensor.Local, with stake and Yuma consensus), buckets in a
// directory, honest miners, adversaries by name, and validators, for a number
// of windows. It returns a Report: the held-out loss of the shared model per
// window, each miner's compute, score and incentive (the last epoch's, and
// summed over the run per unit of compute relative to an honest miner's), and
// whether every honest participant held the same model bits every window.
//
// It is a library so that users can measure incentive variants from their
// own tests — their own Scorer, Aggregator or Adversary:
//
//	opts := localnet.DefaultOptions()
//	opts.Windows = 12
//	opts.Adversaries = []localnet.Adversary{localnet.Lazy{}, myAdversary{}}
//	opts.Scorer = func() bistro.Scorer { return bistro.Cosine{Min: 0.9} }
//	rep, err := localnet.Run(ctx, opts)
//	// rep.Miners[i].TotalIncentive, .RewardPerCompute, rep.HonestShare,
//	// rep.DigestsAgree, rep.PerWindow[w].Loss …
//
// With opts.Baseline it also trains a data-parallel baseline on the same data
// and reports rep.Efficiency against it (BaselineReport).
//
// Runs are deterministic: the same Options (Seed included) give the same
// report and the same final state digest, at any GOMAXPROCS.
package localnet

import (
	"cmp"
	"context"
	"crypto/sha256"

	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/dir"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

// Options configure a run. Start from DefaultOptions.
type Options struct {
	// Miners is the number of honest miners.
	Miners int
	// Adversaries adds one miner per entry.
	Adversaries []Adversary
	// Validators is the number of validators; validator 0 has the most
	// stake and leads.
	Validators int
	// Windows is how many windows are trained and scored.
	Windows int
	// Seed makes the run reproducible: keys are fixed, and the chain's
	// block hashes, θ₀ and the validators' samplers derive from it.
	Seed string
	// SamplerSeed, when set, replaces Seed for the validators' samplers
	// only: the same network with other private draws (how much of a
	// miner's pay is the luck of being sampled).
	SamplerSeed string
	// Dir holds the buckets and the validators' state; "" uses a temporary
	// directory removed at the end. InMemory keeps buckets in memory instead.
	Dir      string
	InMemory bool
	// S3, when set, keeps the buckets on an S3 server instead, each
	// participant's its own (see S3Options); Dir still holds the validators'
	// state.
	S3 *S3Options
	// SampleSize is how many miners each validator recomputes per window.
	SampleSize int
	// Model is the architecture: "mlp" (mlp/v1, the default: sized by
	// Context, Embed and Hidden) or "gpt-tiny" (gpt2/v1's tiny preset: 4
	// layers, 4 heads, width 256, context 128, byte vocabulary — slow on a
	// CPU; give it PageLength 129 and few windows).
	Model string
	// Model sizes of mlp/v1: context bytes, embedding and hidden widths.
	Context, Embed, Hidden uint32
	// PageLength and HeldOut cut the offline text into pages.
	PageLength, HeldOut int
	// Params, when set, adjusts the Params after the defaults.
	Params func(p *bistro.Params)
	// Scorer, when set, gives each validator its Scorer.
	Scorer func() bistro.Scorer
	// Ledger is the validators' ledger rule: LedgerVerified ("verified",
	// the default: pay only for verified work) or LedgerMovingAverage
	// ("moving-average", v1's rule, kept for comparison).
	Ledger string
	// Aggregator, when set, replaces the Params' aggregator for every
	// validator (they must agree, or they refuse the lead's aggregates).
	Aggregator bistro.Aggregator
	// LateMiner, when > 0, starts the last honest miner only at that window
	// (it joins from the latest checkpoint).
	LateMiner int
	// RestartValidator, when > 0, kills the last validator at that window
	// and starts a new one on the same state folder (its ledger persists).
	RestartValidator int
	// Chaos, when set, injects faults: failing, slow or unreachable calls,
	// stopped processes, dropped streams, stalled finality (Scenario
	// returns the named ones).
	Chaos *Chaos
	// Logger receives the participants' logs; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called after each window is scored.
	Progress func(WindowReport)
	// Baseline, when set, also trains a data-parallel baseline on the same
	// data after the network ran (BaselineReport) and reports the network's
	// efficiency against it.
	Baseline bool
}

// DefaultOptions is the README's network: five honest miners, every built-in
// adversary once, two validators, 96 windows of a small byte-level model
// (long enough for verified credit to vest and be paid).
func DefaultOptions() Options {
	var advs []Adversary
	for _, n := range BuiltinNames() {
		a, _ := Builtin(n)
		advs = append(advs, a)
	}
	return Options{Miners: 5, Adversaries: advs, Validators: 2, Windows: 96, Seed: "bistro", SampleSize: 4,
		Context: 8, Embed: 16, Hidden: 64, PageLength: 256, HeldOut: 16}
}

// Validate names the first bad option.
func (o *Options) Validate() error {
	switch {
	case o.Miners < 1:
		return fmt.Errorf("localnet: Miners %d < 1", o.Miners)
	case o.Validators < 1:
		return fmt.Errorf("localnet: Validators %d < 1", o.Validators)
	case o.Validators+o.Miners+len(o.Adversaries) > 4096:
		return fmt.Errorf("localnet: %d participants > 4096", o.Validators+o.Miners+len(o.Adversaries))
	case o.Windows < 1:
		return fmt.Errorf("localnet: Windows %d < 1", o.Windows)
	case o.SampleSize < 1:
		return fmt.Errorf("localnet: SampleSize %d < 1", o.SampleSize)
	case o.Context == 0 || o.Embed == 0 || o.Hidden == 0:
		return fmt.Errorf("localnet: model sizes %d/%d/%d must be > 0", o.Context, o.Embed, o.Hidden)
	case o.Model != "" && o.Model != "mlp" && o.Model != "gpt-tiny":
		return fmt.Errorf("localnet: Model %q unknown (want mlp or gpt-tiny)", o.Model)
	case (o.Model == "" || o.Model == "mlp") && o.PageLength <= int(o.Context):
		return fmt.Errorf("localnet: PageLength %d <= Context %d", o.PageLength, o.Context)
	case o.PageLength < 2:
		return fmt.Errorf("localnet: PageLength %d < 2", o.PageLength)
	case o.HeldOut < 1:
		return fmt.Errorf("localnet: HeldOut %d < 1", o.HeldOut)
	case o.LateMiner < 0 || o.LateMiner >= o.Windows:
		return fmt.Errorf("localnet: LateMiner %d not in [0, Windows %d)", o.LateMiner, o.Windows)
	case o.RestartValidator < 0 || o.RestartValidator >= o.Windows:
		return fmt.Errorf("localnet: RestartValidator %d not in [0, Windows %d)", o.RestartValidator, o.Windows)
	case o.RestartValidator > 0 && o.InMemory:
		return fmt.Errorf("localnet: RestartValidator needs a state folder (InMemory is set)")
	case o.Ledger != "" && o.Ledger != LedgerVerified && o.Ledger != LedgerMovingAverage:
		return fmt.Errorf("localnet: Ledger %q unknown (want %q or %q)", o.Ledger, LedgerVerified, LedgerMovingAverage)
	case o.S3 != nil && o.InMemory:
		return fmt.Errorf("localnet: S3 and InMemory are both set")
	case o.S3 != nil:
		if err := o.S3.validate(); err != nil {
			return err
		}
	}
	if o.Chaos != nil {
		return o.Chaos.validate(o)
	}
	return nil
}

// WindowReport is the network after one window was scored.
type WindowReport struct {
	Window int `json:"window"` // 0-based window of the run
	// Loss is the held-out loss of the shared model after the window's
	// aggregate was applied.
	Loss float64 `json:"loss"`
	// Scores are the reporting validator's averages per miner (by miner
	// index): validator 0's, or validator 1's when chaos stops validator 0.
	Scores []float64 `json:"scores"`
	// Incentive is the chain's incentive per miner (by miner index).
	Incentive []float64 `json:"incentive"`
	// Digest is the state digest every honest participant holds.
	Digest bistro.Hash `json:"digest"`
	// Block is the head at which the reporting validator applied the
	// window's aggregate: compared with a run without faults, how long the
	// network was held up.
	Block bistro.Block `json:"block"`
	// BaselineLoss is the data-parallel baseline's held-out loss after as
	// many steps as the network ran windows (Options.Baseline).
	BaselineLoss *float64 `json:"baseline_loss,omitempty"`
}

// MinerReport is one miner's outcome.
type MinerReport struct {
	Hotkey string `json:"hotkey"`
	UID    int    `json:"uid"`
	Role   string `json:"role"`
	// UIDs are every uid it held, in order: more than one for a miner that
	// registered fresh hotkeys (Env.Register). Every figure below counts
	// them all.
	UIDs []int `json:"uids"`
	// Compute is the pages it trained on relative to the mean honest
	// miner's (MinerStats.Pages): 0.5 for a miner that trains on half its
	// pages.
	Compute float64 `json:"compute"`
	// Score is the reporting validator's average of its evaluations (of
	// its last hotkey).
	Score float64 `json:"score"`
	// Incentive is the chain's consensus incentive of the last epoch,
	// normalized over miners.
	Incentive float64 `json:"incentive"`
	// TotalIncentive is its lifetime pay: the sum over the run's windows of
	// its share of the miners' incentive (WindowReport.Incentive).
	TotalIncentive float64 `json:"total_incentive"`
	// RewardPerCompute is TotalIncentive / Compute relative to the mean of
	// the honest miners' (1: paid as an honest miner per unit of work). It
	// is 0 with no pay, and null when unbounded: pay without compute.
	RewardPerCompute *float64 `json:"reward_per_compute"`
	// Evaluations counts the reporting validator's evaluations of it.
	Evaluations int `json:"evaluations"`
}

// AggregateReport is what the lead merged in one window.
type AggregateReport struct {
	Window  int   `json:"window"`
	Merged  []int `json:"merged"`
	Dropped []int `json:"dropped,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Windows   int     `json:"windows"`
	LossFirst float64 `json:"loss_first"`
	LossLast  float64 `json:"loss_last"`
	// DigestsAgree: every honest participant held the same state digest and
	// the same full θ hash at every window, and all reached the last.
	DigestsAgree bool          `json:"digests_agree"`
	Miners       []MinerReport `json:"miners"`
	// PerWindow has one row per window.
	PerWindow []WindowReport `json:"per_window"`
	// FinalDigest is the state digest after the last window.
	FinalDigest bistro.Hash `json:"final_digest"`
	// Aggregates lists, per window, the uids the lead merged and dropped.
	Aggregates []AggregateReport `json:"aggregates"`
	// Validators' counters.
	Validators []bistro.ValidatorStats `json:"validators"`
	// Disagreements describes where digests differed (empty when they agree).
	Disagreements []string `json:"disagreements,omitempty"`
	// Participants lists every miner and validator with its counters.
	Participants []ParticipantReport `json:"participants"`
	// HonestShare is the honest miners' share of the miners' total
	// incentive over the run.
	HonestShare float64 `json:"honest_share"`

	// Scenario names the chaos scenario ("" without chaos).
	Scenario string `json:"scenario,omitempty"`
	// Stuck lists the honest participants that stayed up but whose replica
	// did not reach the final base.
	Stuck []string `json:"stuck"`
	// LossAtFault is the held-out loss after the window the chaos struck
	// (the last window's without chaos).
	LossAtFault float64 `json:"loss_at_fault"`
	// Processed is, per validator (by name), the windows it processed.
	Processed map[string]int `json:"processed"`

	// Baseline is the data-parallel baseline (Options.Baseline).
	Baseline *BaselineReport `json:"baseline,omitempty"`
	// Efficiency is the baseline steps needed to reach the network's final
	// held-out loss (interpolated) divided by the windows the network ran:
	// 1 turns a window into as much progress as a full data-parallel step
	// on the honest miners' pages. 0 without a baseline, or when the
	// baseline did not reach the loss within 4× the run.
	Efficiency float64 `json:"efficiency,omitempty"`
	// EfficiencyPerCompute is the same per unit of compute: the pages the
	// baseline trained to reach the network's final loss divided by the
	// pages the network trained and recomputed (miners and validators).
	EfficiencyPerCompute float64 `json:"efficiency_per_compute,omitempty"`
}

// ParticipantReport is one participant at the end of a run.
type ParticipantReport struct {
	Name string `json:"name"`
	Role string `json:"role"`
	UID  int    `json:"uid"`
	// UIDs, for a miner, are every uid it held (Env.Register).
	UIDs     []int        `json:"uids,omitempty"`
	Trained  int          `json:"trained"`
	Uploaded int          `json:"uploaded"`
	State    bistro.State `json:"state"`
	Restarts int          `json:"restarts,omitempty"`
	// Down says the participant was stopped for good by chaos.
	Down bool `json:"down,omitempty"`
	// Windows lists the base windows its replica held, with their digests.
	Windows int `json:"windows_held"`
}

func derive(seed, what string, i int) bistro.Hash {
	return sha256.Sum256(fmt.Appendf(nil, "bistro/localnet\x00%s\x00%s\x00%d", seed, what, i))
}

// participant is one miner or validator with its own stream.
type participant struct {
	name   string
	role   string // "validator", "honest" or the adversary's name
	key    *bistro.Keypair
	uid    bistro.UID
	honest bool
	miner  *bistro.Miner
	val    *bistro.Validator
	start  bistro.Block // steps from this block on
	stream bistro.BlockStream
	join   chan bistro.BlockStream // a late participant's stream

	conf    bistro.Config // to restart a validator
	fresh   func() bistro.Model
	vopts   bistro.ValidatorOptions
	restart bistro.Block // restart the validator at this block
	ledger  string       // the ledger rule, to restart a validator
	reborn  int          // restarts done

	stop, resume bistro.Block // chaos: stopped at stop, back at resume (0: never)
	rejoin       chan bistro.BlockStream
	down         bool                          // stopped for good
	drops        map[bistro.Block]bistro.Block // chaos: stream lost at key, back at value

	adv Adversary // the adversary a miner plays (nil: honest)
	// A miner's lives: the hotkeys it held, the first being key and uid, and
	// the fresh one it asked for (Env.Register), registered by the observer
	// and stepped by follow from its block on.
	mu    sync.Mutex
	lives []incarnation
	next  *incarnation
}

// incarnation is one hotkey a miner held: its uid, its Miner, and the block
// from which it stepped (0 for the first).
type incarnation struct {
	key   *bistro.Keypair
	uid   bistro.UID
	miner *bistro.Miner
	from  bistro.Block
	asked bistro.Block // the head at which the participant asked for it
}

// livesAt returns the participant's incarnations that had started by block
// b: the first one always. Only registered ones are listed, each from a
// block after the one that registered it, so the answer is the same at
// whichever moment of block b it is read.
func (p *participant) livesAt(b bistro.Block) []incarnation {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []incarnation
	for i, l := range p.lives {
		if i == 0 || l.from <= b {
			out = append(out, l)
		}
	}
	return out
}

// allLives returns every incarnation of the participant.
func (p *participant) allLives() []incarnation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lives)
}

func (p *participant) step(ctx context.Context, h bistro.Head) error {
	if p.miner != nil {
		return p.miner.Step(ctx, h)
	}
	return p.val.Step(ctx, h)
}

// trace collects what the participants' replicas held, window by window.
type trace struct {
	mu    sync.Mutex
	state map[uint64]map[string][2]bistro.Hash // window → participant → {digest, θ hash}
}

func (tr *trace) record(name string, w uint64, d bistro.Hash, m bistro.Model) {
	theta, err := bistro.ThetaHash(m)
	if err != nil {
		theta = bistro.Hash{}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.state[w] == nil {
		tr.state[w] = map[string][2]bistro.Hash{}
	}
	tr.state[w][name] = [2]bistro.Hash{d, theta}
}

// Run runs the network and returns its report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root := opts.Dir
	if root == "" && !opts.InMemory {
		d, err := os.MkdirTemp("", "bistro-localnet-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		root = d
	}

	// The data, the model and θ₀.
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: opts.PageLength, HeldOut: opts.HeldOut})
	if err != nil {
		return nil, err
	}
	heldOut, err := ds.HeldOut(ctx)
	if err != nil {
		return nil, err
	}
	cfg, genesis, newTrainer, err := model(opts)
	if err != nil {
		return nil, err
	}
	genesisDigest, err := bistro.ThetaHash(genesis)
	if err != nil {
		return nil, err
	}

	// The chain: validators first (uid 0 leads), then miners; one tempo of
	// warm-up so that the first epoch grants the validator permits.
	p := networkParams(opts, ds, cfg, genesisDigest)
	chain, err := newChain(opts, &p)
	if err != nil {
		return nil, err
	}
	defer chain.Close()

	var parts []*participant
	newPart := func(name, role string, honest bool) (*participant, error) {
		k, err := bistro.KeypairFromURI("//" + name)
		if err != nil {
			return nil, err
		}
		uid, err := chain.Register(ctx, p.NetUID, k.Hotkey())
		if err != nil {
			return nil, err
		}
		pt := &participant{name: name, role: role, key: k, uid: uid, honest: honest}
		parts = append(parts, pt)
		return pt, nil
	}
	for i := 0; i < opts.Validators; i++ {
		pt, err := newPart(fmt.Sprintf("Validator%d", i), "validator", true)
		if err != nil {
			return nil, err
		}
		if err := chain.AddStake(ctx, pt.key.Hotkey(), uint64(opts.Validators-i)*1_000_000_000_000); err != nil {
			return nil, err
		}
	}
	var miners []*participant
	for i := 0; i < opts.Miners; i++ {
		pt, err := newPart(fmt.Sprintf("Miner%d", i), "honest", true)
		if err != nil {
			return nil, err
		}
		miners = append(miners, pt)
	}
	for i, a := range opts.Adversaries {
		pt, err := newPart(fmt.Sprintf("Adversary%d-%s", i, a.Name()), a.Name(), false)
		if err != nil {
			return nil, err
		}
		pt.adv = a
		miners = append(miners, pt)
	}
	head, err := chain.Advance(ctx, p.BlocksPerWindow)
	if err != nil {
		return nil, err
	}
	win, _ := bistro.NewWindows(&p)
	p.FirstWindow = win.Of(head.Number) + 1

	// Buckets, then the participants themselves.
	bks := newBuckets(func() bistro.Block { return chain.Head().Number })
	bks.lead = parts[0].key.Hotkey()
	in := newInjector(opts.Chaos, func() int { return int(win.Of(chain.Head().Number)) - int(p.FirstWindow) })
	reporter := parts[0]
	if opts.Chaos != nil {
		for _, st := range opts.Chaos.Stops {
			if st.Who == reporter.name {
				reporter = parts[1]
			}
		}
	}
	var s3Prefix string
	if opts.S3 != nil {
		s3Prefix = opts.S3.prefix()
		bks.remote = opts.S3.readers()
	}
	store := func(name, bucket string) (bistro.Storage, error) {
		switch {
		case opts.S3 != nil:
			st, err := opts.S3.newBucket(ctx, bucket)
			if err != nil {
				return nil, err
			}
			return st, nil
		case opts.InMemory:
			return mem.New(), nil
		}
		return dir.New(filepath.Join(root, "buckets", name))
	}
	tr := &trace{state: map[uint64]map[string][2]bistro.Hash{}}
	rep := &Report{Windows: opts.Windows}
	var repMu sync.Mutex
	lastWindow := p.FirstWindow + uint64(opts.Windows) - 1

	// configure gives one hotkey of a participant its bucket (named by uid;
	// its folder by folder) and its view of the chain and of the others'
	// buckets.
	configure := func(pt *participant, key *bistro.Keypair, uid bistro.UID, folder string) (bistro.Config, string, bistro.Storage, error) {
		bucket := fmt.Sprintf("bucket-%d", uid)
		announce := bistro.Commitment{Endpoint: "http://127.0.0.1:1", Bucket: bucket, Region: "local"}
		if opts.S3 != nil {
			bucket = fmt.Sprintf("%s-%d", s3Prefix, uid)
			announce = opts.S3.commitment(bucket)
		}
		st, err := store(folder, bucket)
		if err != nil {
			return bistro.Config{}, "", nil, err
		}
		bks.add(bucket, pt.name, st)
		return bistro.Config{
			Params: &p, Signer: key, Chain: chaosChain{chain, pt.name, in},
			Buckets:  readerView{bks, key.Hotkey(), pt.name, in},
			Bucket:   chaosStore{Storage: stamped{st, bks, bucket}, who: pt.name, bucket: pt.name, in: in},
			Announce: announce,
			Trainer:  newTrainer(), Dataset: ds, Genesis: genesis.Clone(),
			Logger: log.With("participant", pt.name),
		}, bucket, st, nil
	}

	// A churning adversary asks for a fresh hotkey (Env.Register) while it
	// steps a head; the observer registers it at the next head, in the
	// order of parts, so that uids do not depend on which goroutine asked
	// first, and builds its miner; follow hands over to it at the first
	// block of the window after.
	var honestBuckets []PeerBucket
	newMiner := func(pt *participant, key *bistro.Keypair, uid bistro.UID, conf bistro.Config, bucket string) (*bistro.Miner, error) {
		if pt.adv == nil {
			return bistro.NewMiner(conf, nil)
		}
		env := Env{Params: &p, Layout: genesis.Layout(), Signer: key, UID: uid, Peers: honestBuckets,
			Seed:    derive(opts.Seed, "adversary", int(uid)),
			Trainer: newTrainer(), Dataset: ds, Buckets: conf.Buckets, Chain: chainView{conf.Chain.(chaosChain)},
			Register: func(context.Context) (bistro.Hotkey, error) {
				pt.mu.Lock()
				defer pt.mu.Unlock()
				if pt.next != nil {
					return pt.next.key.Hotkey(), nil
				}
				k, err := bistro.KeypairFromURI(fmt.Sprintf("//%s//%d", pt.name, len(pt.lives)))
				if err != nil {
					return bistro.Hotkey{}, err
				}
				pt.next = &incarnation{key: k, asked: chain.Head().Number}
				return k.Hotkey(), nil
			},
		}
		if _, ok := pt.adv.(Equivocate); ok {
			alt := mem.New()
			bks.addAlt(bucket, alt)
			env.Alt = alt
		}
		return bistro.NewMiner(conf, pt.adv.Strategy(env))
	}
	registered := len(parts)
	rebirths := func(ctx context.Context, n bistro.Block) error {
		for _, pt := range parts {
			pt.mu.Lock()
			nx, life := pt.next, len(pt.lives)
			pt.mu.Unlock()
			if nx == nil || nx.miner != nil || nx.asked >= n {
				continue
			}
			if registered >= maxUIDs(opts) {
				return fmt.Errorf("localnet: %s asks for a fresh hotkey: the subnet's %d uids are taken", pt.name, maxUIDs(opts))
			}
			uid, err := chain.Register(ctx, p.NetUID, nx.key.Hotkey())
			if err != nil {
				return fmt.Errorf("localnet: register a fresh hotkey of %s: %w", pt.name, err)
			}
			registered++
			conf, bucket, _, err := configure(pt, nx.key, uid, fmt.Sprintf("%s.%d", pt.name, life))
			if err != nil {
				return err
			}
			m, err := newMiner(pt, nx.key, uid, conf, bucket)
			if err != nil {
				return err
			}
			from, err := win.Start(win.Of(n) + 1)
			if err != nil {
				return err
			}
			pt.mu.Lock()
			nx.uid, nx.miner, nx.from = uid, m, from
			pt.lives = append(pt.lives, *nx)
			pt.mu.Unlock()
		}
		return nil
	}

	for _, pt := range parts {
		conf, bucket, st, err := configure(pt, pt.key, pt.uid, pt.name)
		if err != nil {
			return nil, err
		}
		if pt.role == "honest" {
			honestBuckets = append(honestBuckets, PeerBucket{pt.key.Hotkey(), visible{st, bks, bucket}})
		}
		name := pt.name
		if pt.honest {
			conf.OnAdvance = func(w uint64, d bistro.Hash, m bistro.Model) { tr.record(name, w, d, m) }
		}
		if pt.role == "validator" {
			vo := bistro.ValidatorOptions{
				Sampler: bistro.NewSeededSampler(derive(cmp.Or(opts.SamplerSeed, opts.Seed), "sampler", int(pt.uid))), SampleSize: opts.SampleSize,
				Aggregator: opts.Aggregator,
			}
			{
				vo.OnAggregate = func(w uint64, manifest []bistro.ManifestEntry, dropped []bistro.UID) {
					if w < p.FirstWindow || w > lastWindow {
						return
					}
					row := AggregateReport{Window: int(w - p.FirstWindow)}
					for _, e := range manifest {
						row.Merged = append(row.Merged, int(e.UID))
					}
					for _, u := range dropped {
						row.Dropped = append(row.Dropped, int(u))
					}
					repMu.Lock()
					if !slices.ContainsFunc(rep.Aggregates, func(a AggregateReport) bool { return a.Window == row.Window }) {
						rep.Aggregates = append(rep.Aggregates, row)
					}
					repMu.Unlock()
				}
			}
			if !opts.InMemory {
				vo.StateDir = filepath.Join(root, "state", pt.name)
				if err := os.MkdirAll(vo.StateDir, 0o755); err != nil {
					return nil, err
				}
			}
			if opts.Scorer != nil {
				vo.Scorer = opts.Scorer()
			}
			if vo.Ledger, err = newLedger(opts.Ledger, vo.StateDir); err != nil {
				return nil, err
			}
			if pt == reporter {
				lead := pt
				conf.OnAdvance = func(w uint64, d bistro.Hash, m bistro.Model) {
					tr.record(name, w, d, m)
					if w <= p.FirstWindow+1 || w > lastWindow+2 {
						return
					}
					row := windowRow(ctx, int(w-p.FirstWindow-2), newTrainer(), m, heldOut, d, lead, miners, chain, p.NetUID)
					repMu.Lock()
					rep.PerWindow = append(rep.PerWindow, row)
					repMu.Unlock()
					if opts.Progress != nil {
						opts.Progress(row)
					}
				}
			}
			if pt.val, err = bistro.NewValidator(conf, vo); err != nil {
				return nil, err
			}
			pt.conf, pt.vopts, pt.ledger = conf, vo, opts.Ledger
			pt.fresh = func() bistro.Model { return genesis.Clone() }
			continue
		}
		if pt.miner, err = newMiner(pt, pt.key, pt.uid, conf, bucket); err != nil {
			return nil, err
		}
		pt.lives = []incarnation{{key: pt.key, uid: pt.uid, miner: pt.miner}}
	}
	if opts.LateMiner > 0 {
		late := miners[opts.Miners-1]
		late.start, _ = win.Start(p.FirstWindow + uint64(opts.LateMiner))
		late.join = make(chan bistro.BlockStream, 1)
	}
	if opts.RestartValidator > 0 {
		parts[opts.Validators-1].restart, _ = win.Start(p.FirstWindow + uint64(opts.RestartValidator))
	}
	at := func(i int) bistro.Block { b, _ := win.Start(p.FirstWindow + uint64(i)); return b }
	actions := map[bistro.Block][]func(){}
	if c := opts.Chaos; c != nil {
		byName := map[string]*participant{}
		for _, pt := range parts {
			byName[pt.name] = pt
		}
		for _, st := range c.Stops {
			pt := byName[st.Who]
			pt.stop = at(st.From)
			if st.To >= 0 {
				pt.resume = at(st.To)
				pt.rejoin = make(chan bistro.BlockStream, 1)
			}
		}
		for _, d := range c.Drops {
			for _, pt := range parts {
				if d.Who == "" || d.Who == pt.name {
					if pt.drops == nil {
						pt.drops = map[bistro.Block]bistro.Block{}
					}
					pt.drops[at(d.Window)] = at(d.Window) + bistro.Block(d.Blocks)
				}
			}
		}
		for _, sp := range c.Stalls {
			actions[at(sp.From)] = append(actions[at(sp.From)], func() { chain.StallFinality(true) })
			actions[at(sp.To)] = append(actions[at(sp.To)], func() { chain.StallFinality(false) })
		}
	}

	// Lockstep: every participant subscribes before the first block, steps
	// each head up to the last one, then closes its stream. An observer
	// stream hands late participants a stream at their start block, while
	// it holds the chain there, so they join at the same block every run.
	// The last window's aggregate is applied when the lead processes the
	// window after it: run until then.
	deadline, err := win.Deadline(lastWindow + 1)
	if err != nil {
		return nil, err
	}
	last := deadline + bistro.Block(p.FinalityLag) + 1
	observer, err := chain.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	for _, pt := range parts {
		if pt.join != nil {
			continue
		}
		if pt.stream, err = chain.Subscribe(ctx); err != nil {
			return nil, err
		}
	}
	outer := ctx // the baseline runs after the network is stopped
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	for _, pt := range parts {
		g.Go(func() error { return follow(gctx, chain, pt, last) })
	}
	g.Go(func() error { return observe(gctx, chain, observer, parts, actions, rebirths, last) })
	chainErr := make(chan error, 1)
	go func() { chainErr <- chain.Run(ctx) }()
	err = g.Wait()
	cancel()
	<-chainErr
	if err != nil {
		return nil, err
	}

	// The report.
	fillReport(rep, tr, parts, miners, reporter, chain, &p, lastWindow)
	if c := opts.Chaos; c != nil {
		rep.Scenario = c.Name
		for _, row := range rep.PerWindow {
			if row.Window == c.At {
				rep.LossAtFault = row.Loss
			}
		}
	} else {
		rep.LossAtFault = rep.LossLast
	}
	if opts.Baseline {
		if err := baseline(outer, opts, &p, ds, genesis, newTrainer, heldOut, miners, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// observe follows the chain for the late and stopped participants, handing
// each its stream at its start (or return) block while it holds the chain
// there, does the chaos actions of each block before the next is made, and
// registers the fresh hotkeys asked for at earlier blocks (rebirths).
func observe(ctx context.Context, chain *subtensor.Local, s bistro.BlockStream, parts []*participant,
	actions map[bistro.Block][]func(), rebirths func(context.Context, bistro.Block) error, last bistro.Block) error {
	defer s.Close()
	for {
		h, err := s.Next(ctx)
		if err != nil {
			return nil
		}
		for _, act := range actions[h.Number] {
			act()
		}
		if err := rebirths(ctx, h.Number); err != nil {
			return err
		}
		for _, pt := range parts {
			var ch chan bistro.BlockStream
			switch {
			case pt.join != nil && h.Number == pt.start:
				ch = pt.join
			case pt.rejoin != nil && h.Number == pt.resume:
				ch = pt.rejoin
			default:
				continue
			}
			js, err := chain.Subscribe(ctx)
			if err != nil {
				return err
			}
			ch <- js
		}
		if h.Number >= last {
			return nil
		}
	}
}

// follow steps one participant on every head until last.
func follow(ctx context.Context, chain *subtensor.Local, pt *participant, last bistro.Block) error {
	if pt.join != nil {
		select {
		case pt.stream = <-pt.join:
		case <-ctx.Done():
			return nil
		}
	}
	defer func() { pt.stream.Close() }()
	var skip bistro.Block
	for {
		h, err := pt.stream.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if h.Number > last {
			return nil
		}
		if pt.stop > 0 && h.Number == pt.stop {
			// The process stops: its stream closes, so the chain stops
			// waiting for it; it comes back with the state it had.
			if pt.rejoin == nil {
				pt.down = true
				return nil
			}
			pt.stream.Close()
			select {
			case pt.stream = <-pt.rejoin:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if back, ok := pt.drops[h.Number]; ok {
			skip = back
		}
		if h.Number < skip {
			continue // the stream dropped: these heads are missed
		}
		if pt.restart > 0 && h.Number == pt.restart && pt.reborn == 0 {
			// Kill the validator and start a new one on the same state
			// folder. The new stream is opened before the old one is closed,
			// so the chain waits at this head for the newcomer.
			s, err := chain.Subscribe(ctx)
			if err != nil {
				return err
			}
			pt.stream.Close()
			pt.stream = s
			conf := pt.conf
			conf.Genesis = pt.fresh()
			vo := pt.vopts
			if vo.Ledger, err = newLedger(pt.ledger, vo.StateDir); err != nil { // loaded again from the state folder
				return err
			}
			if pt.val, err = bistro.NewValidator(conf, vo); err != nil {
				return err
			}
			pt.reborn++
			if h, err = s.Next(ctx); err != nil {
				return nil
			}
		}
		pt.mu.Lock()
		if nx := pt.next; nx != nil && nx.miner != nil && h.Number >= nx.from {
			pt.miner, pt.next = nx.miner, nil // a fresh hotkey takes over
		}
		pt.mu.Unlock()
		if err := pt.step(ctx, h); err != nil {
			return fmt.Errorf("%s at block %d: %w", pt.name, h.Number, err)
		}
	}
}

// windowRow measures the shared model after a window (on the lead's
// goroutine, while its replica is at the new base).
func windowRow(ctx context.Context, i int, tr bistro.Trainer, m bistro.Model, heldOut [][]int32, d bistro.Hash,
	lead *participant, miners []*participant, chain *subtensor.Local, netuid uint16) WindowReport {
	loss, err := tr.Loss(ctx, m, heldOut)
	if err != nil {
		loss = math.NaN()
	}
	head := chain.Head().Number
	row := WindowReport{Window: i, Loss: loss, Digest: d, Block: head}
	led := entries(lead.val.Ledger())
	inc := chain.Incentive(netuid)
	for _, mi := range miners {
		lives := mi.livesAt(head)
		s := 0.0
		if led != nil {
			if e, ok := led.Entry(lives[len(lives)-1].uid); ok {
				s = e.Average
			}
		}
		row.Scores = append(row.Scores, s)
		row.Incentive = append(row.Incentive, incentiveOf(inc, lives))
	}
	normalize(row.Incentive)
	return row
}

// entryReader is the ledger capability the report reads: every Ledger of
// the root package has it.
type entryReader interface {
	Entry(bistro.UID) (bistro.LedgerEntry, bool)
}

// entries returns l's entries, or nil when it has none to show.
func entries(l bistro.Ledger) entryReader {
	e, _ := l.(entryReader)
	return e
}

// incentiveOf sums the incentive of every uid a miner held.
func incentiveOf(inc []float64, lives []incarnation) float64 {
	v := 0.0
	for _, l := range lives {
		if int(l.uid) < len(inc) {
			v += inc[l.uid]
		}
	}
	return v
}

// rewardPerCompute fills each miner's reward per compute relative to the
// honest miners' and the honest miners' share of the total incentive.
func rewardPerCompute(rep *Report, miners []*participant) {
	var honest, all, ratio float64
	var n int
	for i, m := range rep.Miners {
		all += m.TotalIncentive
		if m.Role == "honest" {
			honest += m.TotalIncentive
			if miners[i].start == 0 && m.Compute > 0 {
				ratio += m.TotalIncentive / m.Compute
				n++
			}
		}
	}
	if all > 0 {
		rep.HonestShare = honest / all
	}
	if n > 0 {
		ratio /= float64(n)
	}
	for i := range rep.Miners {
		m := &rep.Miners[i]
		var v float64
		switch {
		case m.TotalIncentive == 0:
			v = 0
		case m.Compute == 0 || ratio == 0:
			continue // unbounded: null in JSON, ∞ in the table
		default:
			v = m.TotalIncentive / m.Compute / ratio
		}
		m.RewardPerCompute = &v
	}
}

func normalize(v []float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	if s > 0 {
		for i := range v {
			v[i] /= s
		}
	}
}

func fillReport(rep *Report, tr *trace, parts, miners []*participant, reporter *participant, chain *subtensor.Local, p *bistro.Params, lastWindow uint64) {
	sort.Slice(rep.PerWindow, func(i, j int) bool { return rep.PerWindow[i].Window < rep.PerWindow[j].Window })
	if n := len(rep.PerWindow); n > 0 {
		rep.LossFirst, rep.LossLast = rep.PerWindow[0].Loss, rep.PerWindow[n-1].Loss
		rep.FinalDigest = rep.PerWindow[n-1].Digest
	}
	// Digests: every honest participant that held base(w) held the same bits.
	rep.DigestsAgree = true
	var windows []uint64
	for w := range tr.state {
		windows = append(windows, w)
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i] < windows[j] })
	for _, w := range windows {
		var ref [2]bistro.Hash
		first := ""
		names := make([]string, 0, len(tr.state[w]))
		for n := range tr.state[w] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s := tr.state[w][n]
			if first == "" {
				ref, first = s, n
				continue
			}
			if s != ref {
				rep.DigestsAgree = false
				rep.Disagreements = append(rep.Disagreements, fmt.Sprintf("window %d: %s holds %s/%s, %s holds %s/%s",
					w, first, ref[0], ref[1], n, s[0], s[1]))
			}
		}
	}
	rep.Stuck = []string{}
	for _, pt := range parts {
		if !pt.honest || pt.down {
			continue
		}
		if _, ok := tr.state[lastWindow+2][pt.name]; !ok {
			rep.DigestsAgree = false
			rep.Stuck = append(rep.Stuck, pt.name)
			rep.Disagreements = append(rep.Disagreements, fmt.Sprintf("%s never reached base(%d)", pt.name, lastWindow+2))
		}
	}

	// Miners: compute, the lead's score, the chain's incentive, over every
	// hotkey each held.
	pages := func(m *participant) (n int) {
		for _, l := range m.allLives() {
			n += l.miner.Stats().Pages
		}
		return n
	}
	var honestCompute float64
	var honestN int
	for _, m := range miners {
		if m.role == "honest" && m.start == 0 {
			honestCompute += float64(pages(m))
			honestN++
		}
	}
	if honestN > 0 {
		honestCompute /= float64(honestN)
	}
	led := entries(reporter.val.Ledger())
	inc := chain.Incentive(p.NetUID)
	var incs []float64
	for i, m := range miners {
		lives := m.allLives()
		mr := MinerReport{Hotkey: m.key.Hotkey().String(), UID: int(m.uid), Role: m.role}
		if honestCompute > 0 {
			mr.Compute = float64(pages(m)) / honestCompute
		}
		for j, l := range lives {
			mr.UIDs = append(mr.UIDs, int(l.uid))
			if led == nil {
				continue
			}
			if e, ok := led.Entry(l.uid); ok {
				mr.Evaluations += e.Evaluations
				if j == len(lives)-1 {
					mr.Score = e.Average
				}
			}
		}
		mr.Incentive = incentiveOf(inc, lives)
		for _, row := range rep.PerWindow {
			if i < len(row.Incentive) {
				mr.TotalIncentive += row.Incentive[i]
			}
		}
		incs = append(incs, mr.Incentive)
		rep.Miners = append(rep.Miners, mr)
	}
	normalize(incs)
	for i := range rep.Miners {
		rep.Miners[i].Incentive = incs[i]
	}
	rewardPerCompute(rep, miners)
	for _, pt := range parts {
		pr := ParticipantReport{Name: pt.name, Role: pt.role, UID: int(pt.uid), Restarts: pt.reborn, Down: pt.down}
		if pt.val != nil {
			st := pt.val.Stats()
			rep.Validators = append(rep.Validators, st)
			pr.State = st.State
			if rep.Processed == nil {
				rep.Processed = map[string]int{}
			}
			rep.Processed[pt.name] = st.Windows
		} else {
			for _, l := range pt.allLives() {
				st := l.miner.Stats()
				pr.Trained += st.Trained
				pr.Uploaded += st.Uploaded
				pr.UIDs = append(pr.UIDs, int(l.uid))
			}
			pr.State = pt.miner.Stats().State
		}
		for _, byName := range tr.state {
			if _, ok := byName[pt.name]; ok {
				pr.Windows++
			}
		}
		rep.Participants = append(rep.Participants, pr)
	}
}

// model returns the architecture's config, θ₀ (drawn from the run's seed at
// start: reproducible, any size, nothing binary committed) and a trainer
// factory (one single-threaded trainer per participant: participants run in
// parallel already).
func model(opts Options) (bistro.ModelConfig, *bistro.MemModel, func() bistro.Trainer, error) {
	seed := derive(opts.Seed, "genesis", 0)
	if opts.Model == "gpt-tiny" {
		cfg := train.GPTTiny()
		g, err := train.InitGPT(cfg, seed)
		if err != nil {
			return cfg, nil, nil, err
		}
		if _, err := train.NewGPT(cfg); err != nil {
			return cfg, nil, nil, err
		}
		return cfg, g, func() bistro.Trainer {
			tr, _ := train.NewGPT(cfg)
			tr.Workers = 1
			return &tr
		}, nil
	}
	cfg, err := train.NewMLPConfig(256, opts.Context, opts.Embed, opts.Hidden)
	if err != nil {
		return cfg, nil, nil, err
	}
	g, err := train.InitMLP(cfg, seed)
	return cfg, g, func() bistro.Trainer { return &train.MLP{Workers: 1} }, err
}

// networkParams are the local network's Params: 6-block windows, a grace of
// 2, finality one block behind and 3 blocks per failover rank; a quarter of
// every tensor per slice, learning rate scaled by 1/f, and one AdamW inner
// step per window (adamw/v1, β1 0.9, β2 0.999, ε 1e-8, weight decay 0.01)
// at lr 0.0015 (a step of 0.006 per coordinate on the sliced coordinates).
// From the sweeps (scripts/efficiency-sweep, README "Training efficiency"):
// SGD at lr 0.5 unscaled ran at 0.26× the data-parallel baseline; scaled
// by 1/f it oscillated; SGD at lr 0.25 scaled runs at 0.96× its baseline
// and ends at 3.03 after 96 windows; AdamW at lr 0.0015 runs at 0.92× an
// AdamW baseline and ends at 2.87 (larger AdamW steps end lower still,
// 2.40, but at 0.50–0.84× their baseline).
func networkParams(opts Options, ds *data.OpticsDataset, cfg bistro.ModelConfig, genesis bistro.Hash) bistro.Params {
	p := bistro.DefaultParams(1)
	p.BlocksPerWindow, p.Grace, p.FinalityLag, p.FailoverDelay = 6, 2, 1, 3
	p.BlockTimeMS, p.UploadTimeMS, p.MergeTimeMS = 12000, 20000, 30000
	p.PagesPerWindow, p.PageLength = 2, uint32(opts.PageLength)
	p.DatasetPages, p.DatasetDigest = ds.Pages(), ds.Digest()
	p.SliceFraction, p.SliceRun = 0.25, 1
	p.LR = bistro.Schedule{Kind: bistro.ConstantLR, Base: 0.0015}
	p.LRScale, p.InnerSteps, p.InnerOptimizer = bistro.LRScaleInverseFraction, 1, bistro.AdamW()
	if opts.Model == "gpt-tiny" {
		// The recommended GPT Params (README "Training efficiency"): plain
		// SGD at lr 0.5 oscillates on gpt-tiny; SGD with a step of 0.2
		// (0.05 / f), two per window, falls smoothly to 3.50 in 16 windows;
		// two AdamW steps of 0.001 (0.00025 / f) per window fall smoothly
		// to 3.11, nearer their baseline. Larger AdamW steps oscillate.
		p.LR.Base, p.InnerSteps = 0.00025, 2
	}
	p.ClipNorm = 1
	p.Model, p.GenesisDigest = cfg, genesis
	p.Aggregator = bistro.AggregatorParams{ClipFactor: 2, Trim: 0.2, MedianBelow: 3}
	p.Checks = bistro.CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}
	p.CheckpointInterval, p.Retention = 4, 8
	if opts.Params != nil {
		opts.Params(&p)
	}
	return p
}

func newChain(opts Options, p *bistro.Params) (*subtensor.Local, error) {
	lo := subtensor.DefaultLocalOptions()
	lo.Seed = []byte(opts.Seed)
	lo.FinalityLag = p.FinalityLag
	lo.BlockTime = time.Duration(p.BlockTimeMS) * time.Millisecond
	lo.Genesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sn := subtensor.DefaultSubnetOptions(p.NetUID)
	sn.MaxUIDs = uint16(maxUIDs(opts))
	sn.MaxValidators = uint16(opts.Validators)
	sn.ImmunityPeriod = 1 << 20
	sn.MinNonImmuneUIDs = 0
	sn.Tempo = p.BlocksPerWindow
	// A validator that set no weights for 4 windows (down, or stalled) leaves
	// consensus, as on Subtensor (whose default is about 14 tempos).
	sn.ActivityCutoff = 4 * p.BlocksPerWindow
	sn.WeightsRateLimit = p.BlocksPerWindow - 1
	sn.WeightsVersionKey = bistro.ProtocolVersion
	sn.MinAllowedWeights = 1
	lo.Subnets = []subtensor.SubnetOptions{sn}
	return subtensor.NewLocal(lo)
}

// The ledger rules of Options.Ledger.
const (
	LedgerVerified      = "verified"
	LedgerMovingAverage = "moving-average"
)

// newLedger returns a validator's ledger of the given rule, loaded from
// dir's ledger.json when dir is set.
func newLedger(rule, dir string) (bistro.Ledger, error) {
	path := ""
	if dir != "" {
		path = filepath.Join(dir, "ledger.json")
	}
	if rule == LedgerMovingAverage {
		return bistro.LoadMovingAverage(path, 0.2)
	}
	return bistro.LoadVerifiedWork(path, bistro.DefaultVerifiedWorkOptions())
}

// maxUIDs is the local subnet's size: every participant, and room for each
// adversary to take a fresh hotkey in every window of the run, so that no
// registration ever prunes a uid.
func maxUIDs(opts Options) int {
	n := opts.Validators + opts.Miners + len(opts.Adversaries)*(opts.Windows+4)
	return min(math.MaxUint16, max(64, n))
}

// chainView is an adversary's read access to the chain (Env.Chain): its own
// view, faults included, and nothing that writes.
type chainView struct{ c chaosChain }

var _ ChainView = chainView{}

func (v chainView) Neurons(ctx context.Context, netuid uint16, at bistro.Block) ([]bistro.Neuron, error) {
	return v.c.Neurons(ctx, netuid, at)
}

func (v chainView) Commitment(ctx context.Context, netuid uint16, hk bistro.Hotkey) ([][]byte, bistro.Block, error) {
	return v.c.Commitment(ctx, netuid, hk)
}

func (v chainView) Incentive(netuid uint16) []float64 { return v.c.Local.Incentive(netuid) }

func (v chainView) Head() bistro.Head { return v.c.Local.Head() }
