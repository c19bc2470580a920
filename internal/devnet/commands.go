package devnet

import (
	"path/filepath"
	"strconv"
	"strings"
)

// GoRun, passed to Commands, runs the examples from source: the commands
// then start with `go run ./examples/<role>` and must run in the
// repository's root.
const GoRun = "go run"

// Command starts one participant.
type Command struct {
	// Participant is the participant's name, Role its role.
	Participant string
	Role        Role
	// Env is what the command needs in its environment besides the
	// caller's: the devnet S3 server's throwaway credentials.
	Env []string
	// Args is the argv: the program and its flags.
	Args []string
}

// String returns the command as one shell line, the environment first.
func (c Command) String() string {
	parts := make([]string, 0, len(c.Env)+len(c.Args))
	for _, e := range c.Env {
		parts = append(parts, shellQuote(e))
	}
	for _, a := range c.Args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// Commands returns the command that starts each participant, validators
// first. bin is the folder holding the built `miner` and `validator`
// binaries, or GoRun ("" too) to run ./examples/miner and
// ./examples/validator from source.
func (d *Devnet) Commands(bin string) []Command {
	out := make([]Command, 0, len(d.Participants))
	for _, p := range d.Participants {
		var args []string
		if bin == "" || bin == GoRun {
			args = []string{"go", "run", "./examples/" + string(p.Role)}
		} else {
			args = []string{filepath.Join(bin, string(p.Role))}
		}
		args = append(args,
			"--wallet.path", p.WalletPath,
			"--wallet.name", p.Name,
			"--wallet.hotkey", HotkeyName,
			"--subtensor.chain_endpoint", d.ChainURL,
			"--netuid", strconv.Itoa(int(d.NetUID)),
			"--bucket", p.BucketURL,
			"--params", d.ParamsURL,
			"--state", p.StateDir,
			"--metrics.addr", p.MetricsAddr,
			"--bucket.allow_private", // the buckets are on loopback
		)
		if p.Role == Validator {
			args = append(args, d.opts.ValidatorFlags...)
		} else {
			args = append(args, d.opts.MinerFlags...)
		}
		out = append(out, Command{Participant: p.Name, Role: p.Role, Env: d.Env(), Args: args})
	}
	return out
}
