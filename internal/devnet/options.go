package devnet

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options configures a devnet. Start from DefaultOptions.
type Options struct {
	// Dir holds what the devnet makes for its participants: wallets/ (btcli
	// wallet folders), state/<name>/ (the participants' state folders,
	// emptied at Start: a new devnet is a new chain with new Params) and
	// logs/ (chopsticks' output). Required.
	Dir string

	// Validators and Miners are how many participants of each role are
	// registered: validator1 … validatorV (uids first, with stake), then
	// miner1 … minerM (no stake).
	Validators, Miners int

	// NetUID is the subnet, one that raonet's genesis has (1).
	NetUID uint16

	// BlockTime is how often the devnet builds a block, in real time; the
	// Params' BlockTimeMS matches it.
	BlockTime time.Duration

	// WindowTime is the target length of a window; BlocksPerWindow is
	// WindowTime / BlockTime rounded, at least 4.
	WindowTime time.Duration

	// StartDelay is how long after the chain is seeded the subnet's first
	// window (Params.FirstWindow) starts, rounded up to a window boundary:
	// time for the participants to start (go run compiles first).
	StartDelay time.Duration

	// Seed names the keys: every key is the sr25519 secret URI
	// //<Seed>//<name> (hotkeys), //<Seed>//<name>//coldkey (coldkeys) and
	// //<Seed>//owner (the subnet owner, who signs the genesis checkpoint),
	// so that two runs with one Seed have the same hotkeys.
	Seed string

	// Stake is the alpha (in rao) of the last validator; validator i of V
	// has (V − i + 1) × Stake, so validator1 has the most and is the lead.
	Stake uint64

	// WeightsRateLimit is the subnet's WeightsSetRateLimit in blocks
	// (raonet has 100); WeightsVersionKey its WeightsVersionKey (the least
	// version key set_weights accepts).
	WeightsRateLimit  uint64
	WeightsVersionKey uint64

	// KeepCommitmentRateLimit keeps the runtime's commitment rate limit (a
	// constant of 100 blocks at spec 218, tracked in
	// Commitments.LastCommitment). Without it the devnet deletes the
	// participants' LastCommitment entries after every block, so that a
	// participant restarted within 100 blocks can commit its bucket again.
	KeepCommitmentRateLimit bool

	// SeedCommitments writes every participant's bucket commitment on
	// chain at Start (see Devnet.seedCommitments: raonet's runtime takes
	// one commitment field, a bistro commitment has two).
	SeedCommitments bool

	// ReadKey puts the S3 server's root key in the seeded commitments as
	// the read key, and in Env as BISTRO_READ_ACCESS_KEY_ID and
	// BISTRO_READ_SECRET_ACCESS_KEY (the example binaries' read-key
	// variables), so that what a participant announces is what the devnet
	// wrote and it has nothing to commit. Without it the commitments carry
	// no read key and readers read the public-read buckets unsigned.
	ReadKey bool

	// MinerFlags and ValidatorFlags are appended to the commands Commands
	// returns for each role. DefaultOptions sets both to the example
	// binaries' local-network option, --bucket.allow_private: every bucket
	// is on loopback, over http.
	MinerFlags, ValidatorFlags []string

	// Genesis is the raw chain spec chopsticks runs: "" for raonet.json
	// of the Subtensor fixtures (scaletest.FindDir).
	Genesis string
	// Chopsticks is the chopsticks binary: "" for clienttest.FindChopsticks.
	Chopsticks string

	// Logger receives the devnet's progress and the block producer's
	// failures. Nil discards.
	Logger *slog.Logger
}

// DefaultOptions returns a devnet of 2 validators and 3 miners on netuid 1
// with 2-second blocks and 12-second windows.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:               dir,
		Validators:        2,
		Miners:            3,
		NetUID:            1,
		BlockTime:         2 * time.Second,
		WindowTime:        12 * time.Second,
		StartDelay:        20 * time.Second,
		Seed:              "BistroDevnet",
		Stake:             1_000_000_000_000, // 1000 alpha
		WeightsRateLimit:  2,
		WeightsVersionKey: 0,
		SeedCommitments:   true,
		ReadKey:           true,
		MinerFlags:        []string{"--bucket.allow_private"},
		ValidatorFlags:    []string{"--bucket.allow_private"},
	}
}

// Validate reports every problem with o, naming the values at fault. It
// does not change o.
func (o Options) Validate() error {
	var bad []string
	if o.Dir == "" {
		bad = append(bad, "Dir is empty")
	}
	if o.Validators < 1 || o.Validators > 64 {
		bad = append(bad, fmt.Sprintf("Validators %d not in [1, 64]", o.Validators))
	}
	if o.Miners < 0 || o.Miners > 128 {
		bad = append(bad, fmt.Sprintf("Miners %d not in [0, 128]", o.Miners))
	}
	if o.BlockTime < 100*time.Millisecond {
		bad = append(bad, fmt.Sprintf("BlockTime %v < 100ms", o.BlockTime))
	}
	if o.WindowTime < 4*o.BlockTime {
		bad = append(bad, fmt.Sprintf("WindowTime %v < 4 × BlockTime %v", o.WindowTime, o.BlockTime))
	}
	if o.StartDelay < 0 {
		bad = append(bad, fmt.Sprintf("StartDelay %v < 0", o.StartDelay))
	}
	if o.Seed == "" || strings.ContainsAny(o.Seed, "/ ") {
		bad = append(bad, fmt.Sprintf("Seed %q is empty or has '/' or ' '", o.Seed))
	}
	if o.Stake == 0 {
		bad = append(bad, "Stake 0: validators need stake to lead")
	}
	if o.WeightsRateLimit == 0 {
		bad = append(bad, "WeightsRateLimit 0")
	}
	if len(bad) > 0 {
		return fmt.Errorf("devnet: bad options: %s", strings.Join(bad, "; "))
	}
	return nil
}
