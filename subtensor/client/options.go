package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// The networks known by name, as the original's --subtensor.network flag
// names them.
var networks = map[string]string{
	"finney": "wss://entrypoint-finney.opentensor.ai:443",
	"test":   "wss://test.finney.opentensor.ai:443",
	"local":  "ws://127.0.0.1:9944",
}

// ErrBadNetwork is returned for a network that is neither a known name nor
// a ws:// or wss:// URL.
var ErrBadNetwork = errors.New("subtensor/client: unknown network")

// NetworkURL returns the websocket URL of a network: "finney", "test",
// "local", or a ws:// or wss:// URL as it is.
func NetworkURL(network string) (string, error) {
	if u, ok := networks[network]; ok {
		return u, nil
	}
	u, err := url.Parse(network)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", fmt.Errorf("%w %q: want finney, test, local or a ws:// or wss:// URL", ErrBadNetwork, network)
	}
	return network, nil
}

// Options configures a Client. Start from DefaultOptions; New validates
// them first.
type Options struct {
	// Network is "finney", "test", "local" (ws://127.0.0.1:9944) or a ws://
	// or wss:// URL.
	Network string

	// DialTimeout bounds one websocket dial; CallTimeout one JSON-RPC call
	// (the caller's context may end it sooner).
	DialTimeout time.Duration
	CallTimeout time.Duration

	// Retries is how many times a read that lost its connection is tried
	// again on a new one, RetryDelay apart (doubling). Submissions are
	// never retried: an extrinsic that may have reached the pool is not
	// sent twice.
	Retries    int
	RetryDelay time.Duration

	// ReadLimit is the largest message accepted from the node, in bytes
	// (metadata and a 4096-uid metagraph are several MB of hex).
	ReadLimit int64

	// Mortality is the validity period of submitted extrinsics in blocks
	// (rounded up to a power of two; 0 makes them immortal).
	Mortality uint64

	// WaitFinalized makes submissions wait until their block is finalized;
	// otherwise they return once included in a block, with its events.
	WaitFinalized bool

	// SubmitTimeout bounds the wait for a submitted extrinsic's inclusion
	// (and finality with WaitFinalized).
	SubmitTimeout time.Duration

	// FinalizedHeads makes Subscribe's streams return finalized heads
	// only (Head.Finalized = Head.Number); otherwise they return every new
	// best head with the finalized number of the moment.
	FinalizedHeads bool

	// Logger receives reconnections and submissions at debug level. Nil
	// discards.
	Logger *slog.Logger
}

// DefaultOptions returns options for finney with timeouts suited to a
// public endpoint.
func DefaultOptions() Options {
	return Options{
		Network:       "finney",
		DialTimeout:   15 * time.Second,
		CallTimeout:   60 * time.Second,
		Retries:       3,
		RetryDelay:    500 * time.Millisecond,
		ReadLimit:     256 << 20,
		Mortality:     64,
		SubmitTimeout: 3 * time.Minute,
	}
}

// Validate reports the first problem with o, naming the values at fault.
func (o Options) Validate() error {
	if _, err := NetworkURL(o.Network); err != nil {
		return err
	}
	var bad []string
	if o.DialTimeout <= 0 {
		bad = append(bad, fmt.Sprintf("DialTimeout %v ≤ 0", o.DialTimeout))
	}
	if o.CallTimeout <= 0 {
		bad = append(bad, fmt.Sprintf("CallTimeout %v ≤ 0", o.CallTimeout))
	}
	if o.Retries < 0 {
		bad = append(bad, fmt.Sprintf("Retries %d < 0", o.Retries))
	}
	if o.Retries > 0 && o.RetryDelay <= 0 {
		bad = append(bad, fmt.Sprintf("RetryDelay %v ≤ 0 with Retries %d", o.RetryDelay, o.Retries))
	}
	if o.ReadLimit < 1<<20 {
		bad = append(bad, fmt.Sprintf("ReadLimit %d < 1 MiB", o.ReadLimit))
	}
	if o.Mortality > 1<<16 {
		bad = append(bad, fmt.Sprintf("Mortality %d > 65536 blocks", o.Mortality))
	}
	if o.SubmitTimeout <= 0 {
		bad = append(bad, fmt.Sprintf("SubmitTimeout %v ≤ 0", o.SubmitTimeout))
	}
	if len(bad) > 0 {
		return fmt.Errorf("subtensor/client: bad options: %s", strings.Join(bad, "; "))
	}
	return nil
}
