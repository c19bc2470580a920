package localnet

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// Chaos is what goes wrong during a run: failing, slow or unreachable calls
// of one participant, processes that stop, streams that drop, finality that
// stalls. Windows are the run's (0-based, as WindowReport.Window). Every
// fault is applied at a block of the lockstep chain, so a run with chaos is
// as deterministic as one without.
type Chaos struct {
	// Name names the scenario in the report.
	Name string
	// Faults fail or slow calls.
	Faults []Fault
	// Stops stop participants' processes.
	Stops []Stop
	// Drops end participants' block streams.
	Drops []Drop
	// Stalls stop finalization from window From to window To (exclusive).
	Stalls []Span
	// At is the window the scenario's first fault hits (for loss_at_fault).
	At int
}

// Fault fails (or slows) calls. Empty fields match anything.
type Fault struct {
	// Who is the participant making the call ("Validator0", "Miner2", …).
	Who string
	// Bucket is the participant whose bucket the call touches (bucket
	// operations only).
	Bucket string
	// Op is a bucket operation ("put", "get", "list", "stat", "delete"),
	// a chain call (subtensor.Op: "FinalizedHash", "Neurons", "Commitment",
	// "Commit", "SetWeights"), "bucket" or "chain" for any of either.
	Op string
	// Key, for bucket operations, is a substring the object key must hold.
	Key string
	// From and To bound the windows in which it applies (inclusive).
	From, To int
	// Times is how many matching calls fail; 0 fails every one (an
	// unreachable endpoint).
	Times int
	// Delay, when > 0, makes matching calls slow instead of failing them.
	Delay time.Duration
}

// Stop stops a participant's process at the start of window From; it comes
// back, with the state it had, at the start of window To (To < 0: never).
type Stop struct {
	Who      string
	From, To int
}

// Drop ends the block streams of Who ("" for every participant) at the
// start of Window; each subscribes again Blocks blocks later, having missed
// the heads in between.
type Drop struct {
	Who    string
	Window int
	Blocks int
}

// Span is a range of windows [From, To).
type Span struct{ From, To int }

// FaultWindow is the window at which the named scenarios strike.
const FaultWindow = 5

// Scenarios lists the named chaos scenarios.
func Scenarios() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Scenario returns the named chaos scenario (Scenarios lists them). Each
// strikes at FaultWindow and needs at least two validators; Validator0 is
// the lead.
func Scenario(name string) (*Chaos, error) {
	mk, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("localnet: unknown chaos scenario %q (have %s)", name, strings.Join(Scenarios(), ", "))
	}
	c := mk()
	c.Name, c.At = name, FaultWindow
	return c, nil
}

const at = FaultWindow

var scenarios = map[string]func() *Chaos{
	// The lead's upload of its aggregate fails once.
	"lead-put": func() *Chaos {
		return &Chaos{Faults: []Fault{{Who: "Validator0", Bucket: "Validator0", Op: "put", Key: "aggregate.safetensors", From: at, To: at, Times: 1}}}
	},
	// One chain call of the lead fails: the seed block's hash in one
	// window, the metagraph read in the next.
	"lead-chain": func() *Chaos {
		return &Chaos{Faults: []Fault{
			{Who: "Validator0", Op: string(subtensor.OpFinalizedHash), From: at, To: at, Times: 1},
			{Who: "Validator0", Op: string(subtensor.OpNeurons), From: at + 1, To: at + 1, Times: 1},
		}}
	},
	// A validator's reads of the lead's aggregate, of a slice copy and of
	// a miner's slice fail once each.
	"peer-get": func() *Chaos {
		return &Chaos{Faults: []Fault{
			{Who: "Validator1", Bucket: "Validator0", Op: "get", Key: "aggregate.safetensors", From: at, To: at, Times: 1},
			{Who: "Validator1", Bucket: "Validator0", Op: "get", Key: "/used/", From: 0, To: 1 << 30, Times: 1},
			{Who: "Validator1", Bucket: "Miner0", Op: "get", From: at, To: at, Times: 1},
		}}
	},
	// A miner's upload of its slice fails once.
	"miner-put": func() *Chaos {
		return &Chaos{Faults: []Fault{{Who: "Miner0", Bucket: "Miner0", Op: "put", From: at, To: at, Times: 1}}}
	},
	// The lead's bucket is unreachable, for everyone, for two windows.
	"lead-outage": func() *Chaos {
		return &Chaos{Faults: []Fault{{Bucket: "Validator0", Op: "bucket", From: at, To: at + 1}}}
	},
	// The lead's process stops for good.
	"lead-crash": func() *Chaos { return &Chaos{Stops: []Stop{{Who: "Validator0", From: at, To: -1}}} },
	// The lead's process stops for three windows and comes back.
	"lead-return": func() *Chaos { return &Chaos{Stops: []Stop{{Who: "Validator0", From: at, To: at + 3}}} },
	// Every participant's block stream drops; each is back 3 blocks later.
	"stream-drop": func() *Chaos { return &Chaos{Drops: []Drop{{Window: at, Blocks: 3}}} },
	// Finality stalls for three windows.
	"finality-stall": func() *Chaos { return &Chaos{Stalls: []Span{{From: at, To: at + 3}}} },
}

func (c *Chaos) validate(o *Options) error {
	names := map[string]bool{}
	for i := 0; i < o.Validators; i++ {
		names[fmt.Sprintf("Validator%d", i)] = true
	}
	for i := 0; i < o.Miners; i++ {
		names[fmt.Sprintf("Miner%d", i)] = true
	}
	for i, a := range o.Adversaries {
		names[fmt.Sprintf("Adversary%d-%s", i, a.Name())] = true
	}
	known := func(n string) error {
		if n != "" && !names[n] {
			return fmt.Errorf("localnet: chaos names %q, not a participant of this run", n)
		}
		return nil
	}
	for _, f := range c.Faults {
		if err := known(f.Who); err != nil {
			return err
		}
		if err := known(f.Bucket); err != nil {
			return err
		}
		if f.From > f.To || f.Times < 0 {
			return fmt.Errorf("localnet: chaos fault windows %d…%d, times %d", f.From, f.To, f.Times)
		}
	}
	stopped := map[string]bool{}
	for _, s := range c.Stops {
		if s.Who == "" {
			return fmt.Errorf("localnet: a chaos stop names nobody")
		}
		if err := known(s.Who); err != nil {
			return err
		}
		if s.From < 1 || (s.To >= 0 && s.To <= s.From) {
			return fmt.Errorf("localnet: chaos stop of %s: windows %d…%d", s.Who, s.From, s.To)
		}
		if stopped[s.Who] {
			return fmt.Errorf("localnet: %s stopped twice", s.Who)
		}
		stopped[s.Who] = true
	}
	if stopped["Validator0"] && o.Validators < 2 {
		return fmt.Errorf("localnet: chaos stops the lead: needs a second validator")
	}
	for _, d := range c.Drops {
		if err := known(d.Who); err != nil {
			return err
		}
		if d.Blocks < 1 || d.Window < 1 {
			return fmt.Errorf("localnet: chaos drop at window %d for %d blocks", d.Window, d.Blocks)
		}
	}
	for _, s := range c.Stalls {
		if s.From < 1 || s.To <= s.From {
			return fmt.Errorf("localnet: finality stall %d…%d", s.From, s.To)
		}
	}
	return nil
}

// errInjected is what a failed call returns: a transport error, as a 503
// or a dropped connection is, never a not-found.
type errInjected struct{ op, who, what string }

func (e errInjected) Error() string {
	return fmt.Sprintf("localnet chaos: %s by %s %s: 503 service unavailable", e.op, e.who, e.what)
}

// injector decides which calls fail.
type injector struct {
	mu     sync.Mutex
	faults []Fault
	used   []int
	window func() int // the run's window of the current head
}

func newInjector(c *Chaos, window func() int) *injector {
	in := &injector{window: window}
	if c != nil {
		in.faults = c.Faults
		in.used = make([]int, len(c.Faults))
	}
	return in
}

func (in *injector) hit(who, bucket, op, key string) error {
	if in == nil || len(in.faults) == 0 {
		return nil
	}
	w := in.window()
	var delay time.Duration
	in.mu.Lock()
	for i, f := range in.faults {
		isChain := op != "put" && op != "get" && op != "list" && op != "stat" && op != "delete"
		switch {
		case f.Who != "" && f.Who != who,
			f.Bucket != "" && (isChain || f.Bucket != bucket),
			f.Op == "chain" && !isChain,
			f.Op == "bucket" && isChain,
			f.Op != "" && f.Op != "chain" && f.Op != "bucket" && f.Op != op,
			f.Key != "" && !strings.Contains(key, f.Key),
			w < f.From || w > f.To,
			f.Times > 0 && in.used[i] >= f.Times:
			continue
		}
		in.used[i]++
		if f.Delay > 0 {
			delay = max(delay, f.Delay)
			continue
		}
		in.mu.Unlock()
		return errInjected{op, who, bucket + key}
	}
	in.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	return nil
}

// chaosChain is one participant's view of the chain, with its faults.
type chaosChain struct {
	*subtensor.Local
	who string
	in  *injector
}

var _ bistro.Chain = chaosChain{}

func (c chaosChain) FinalizedHash(ctx context.Context, n bistro.Block) (bistro.Hash, error) {
	if err := c.in.hit(c.who, "", string(subtensor.OpFinalizedHash), ""); err != nil {
		return bistro.Hash{}, err
	}
	return c.Local.FinalizedHash(ctx, n)
}

func (c chaosChain) Neurons(ctx context.Context, netuid uint16, at bistro.Block) ([]bistro.Neuron, error) {
	if err := c.in.hit(c.who, "", string(subtensor.OpNeurons), ""); err != nil {
		return nil, err
	}
	return c.Local.Neurons(ctx, netuid, at)
}

func (c chaosChain) Commitment(ctx context.Context, netuid uint16, hk bistro.Hotkey) ([][]byte, bistro.Block, error) {
	if err := c.in.hit(c.who, "", string(subtensor.OpCommitment), ""); err != nil {
		return nil, 0, err
	}
	return c.Local.Commitment(ctx, netuid, hk)
}

func (c chaosChain) Commit(ctx context.Context, s bistro.Signer, netuid uint16, fields [][]byte) error {
	if err := c.in.hit(c.who, "", string(subtensor.OpCommit), ""); err != nil {
		return err
	}
	return c.Local.Commit(ctx, s, netuid, fields)
}

func (c chaosChain) SetWeights(ctx context.Context, s bistro.Signer, netuid uint16, uids []bistro.UID, ws []uint16, vk uint64) error {
	if err := c.in.hit(c.who, "", string(subtensor.OpSetWeights), ""); err != nil {
		return err
	}
	return c.Local.SetWeights(ctx, s, netuid, uids, ws, vk)
}

// chaosStore is a bucket as one participant reaches it, with its faults.
type chaosStore struct {
	bistro.Storage
	who, bucket string
	in          *injector
}

func (s chaosStore) Put(ctx context.Context, key string, r io.Reader, n int64) error {
	if err := s.in.hit(s.who, s.bucket, "put", key); err != nil {
		return err
	}
	return s.Storage.Put(ctx, key, r, n)
}

func (s chaosStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if err := s.in.hit(s.who, s.bucket, "get", key); err != nil {
		return nil, err
	}
	return s.Storage.Get(ctx, key, max)
}

func (s chaosStore) Stat(ctx context.Context, key string) (bistro.ObjectInfo, error) {
	if err := s.in.hit(s.who, s.bucket, "stat", key); err != nil {
		return bistro.ObjectInfo{}, err
	}
	return s.Storage.Stat(ctx, key)
}

func (s chaosStore) List(ctx context.Context, prefix string) ([]bistro.ObjectInfo, error) {
	if err := s.in.hit(s.who, s.bucket, "list", prefix); err != nil {
		return nil, err
	}
	return s.Storage.List(ctx, prefix)
}

func (s chaosStore) Delete(ctx context.Context, key string) error {
	if err := s.in.hit(s.who, s.bucket, "delete", key); err != nil {
		return err
	}
	return s.Storage.Delete(ctx, key)
}
