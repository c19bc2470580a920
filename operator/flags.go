package operator

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/joho/godotenv"

	"github.com/bistro-go/bistro"

	"github.com/bistro-go/bistro/subtensor/client"
)

// Role is what a node does on the subnet.
type Role int

const (
	// Miner trains and uploads slices.
	Miner Role = iota + 1
	// Validator recomputes, scores, sets weights and, in its turn, merges.
	Validator
)

func (r Role) String() string {
	switch r {
	case Miner:
		return "miner"
	case Validator:
		return "validator"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Flags are a node's command line, named as a Bittensor operator expects
// (bittensor's miner.py and validator.py).
type Flags struct {
	WalletName   string // --wallet.name
	WalletHotkey string // --wallet.hotkey
	WalletPath   string // --wallet.path (~/.bittensor/wallets)

	Network       string // --subtensor.network: finney, test, local, archive
	ChainEndpoint string // --subtensor.chain_endpoint: wins over Network

	NetUID uint   // --netuid
	Bucket string // --bucket: s3://bucket?endpoint=…, or a bucket name
	Params string // --params: a file, an s3:// or https:// URL
	Device string // --device: cpu or cuda
	State  string // --state: the node's folder (ledger, logs of its own)

	MetricsAddr string // --metrics.addr: host:port of /metrics, /healthz, /readyz; "" for none
	Debug       bool   // --logging.debug
	Trace       bool   // --logging.trace
	LogFormat   string // --logging.format: text or json

	// AllowPrivate lets the node read other participants' buckets at
	// loopback and private addresses, over http: local devnets only.
	AllowPrivate bool // --bucket.allow_private

	// Validator only.
	SampleSize int // --sample: miners recomputed per window
	EvalPages  int // --eval.pages: held-out pages scored for the loss metric each window (0: none)
	// SpoolMemory holds fetched slices in memory instead of in the state
	// folder's spool/ (--spool.memory).
	SpoolMemory bool
}

// Register defines the flags of role on fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet, role Role) {
	home, _ := os.UserHomeDir()
	fs.StringVar(&f.WalletName, "wallet.name", "default", "the wallet (btcli's --wallet.name)")
	fs.StringVar(&f.WalletHotkey, "wallet.hotkey", "default", "the hotkey in the wallet")
	fs.StringVar(&f.WalletPath, "wallet.path", filepath.Join(home, ".bittensor", "wallets"), "the folder of wallets")
	fs.StringVar(&f.Network, "subtensor.network", "finney", "finney, test, local or archive")
	fs.StringVar(&f.ChainEndpoint, "subtensor.chain_endpoint", "", "a ws:// or wss:// endpoint; wins over --subtensor.network")
	fs.UintVar(&f.NetUID, "netuid", 0, "the subnet (required)")
	fs.StringVar(&f.Bucket, "bucket", "", "your bucket: s3://NAME?endpoint=URL&region=R, or a name with the endpoint from\n$AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL or $R2_ACCOUNT_ID (required)")
	fs.StringVar(&f.Params, "params", "", "the subnet's params.json: a file, an s3:// or https:// URL; genesis.safetensors\nand dataset/manifest.json are read beside it (required)")
	fs.StringVar(&f.Device, "device", "cpu", "cpu or cuda")
	fs.StringVar(&f.State, "state", "", "folder for the node's state (the validator's ledger); default ./bistro-state/NETUID/WALLET-HOTKEY")
	fs.StringVar(&f.MetricsAddr, "metrics.addr", "127.0.0.1:9100", "host:port serving /metrics, /healthz and /readyz; empty for none")
	fs.BoolVar(&f.Debug, "logging.debug", false, "debug logs")
	fs.BoolVar(&f.Trace, "logging.trace", false, "trace logs (more than debug)")
	fs.StringVar(&f.LogFormat, "logging.format", "text", "text or json")
	fs.BoolVar(&f.AllowPrivate, "bucket.allow_private", false, "read buckets at loopback and private addresses over http (local devnets only)")
	if role == Validator {
		fs.IntVar(&f.SampleSize, "sample", 4, "miners recomputed per window")
		fs.IntVar(&f.EvalPages, "eval.pages", 4, "held-out pages scored each window for the loss metric (0: none)")
		fs.BoolVar(&f.SpoolMemory, "spool.memory", false, "hold the slices of the windows in progress in memory instead of\nfiles under --state/spool (miners × slice size × up to 4 windows)")
	}
}

// Networks are bittensor's network names and their endpoints.
var Networks = map[string]string{
	"finney":  "wss://entrypoint-finney.opentensor.ai:443",
	"test":    "wss://test.finney.opentensor.ai:443",
	"archive": "wss://archive.chain.opentensor.ai:443",
	"local":   "ws://127.0.0.1:9944",
}

// Endpoint is the chain endpoint the flags name: the explicit one, else the
// network's.
func (f *Flags) Endpoint() (string, error) {
	if f.ChainEndpoint != "" {
		u, err := url.Parse(f.ChainEndpoint)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return "", fmt.Errorf("--subtensor.chain_endpoint %q: want ws://host:port or wss://host:port", f.ChainEndpoint)
		}
		return f.ChainEndpoint, nil
	}
	if ep, ok := Networks[f.Network]; ok {
		return ep, nil
	}
	if _, err := client.NetworkURL(f.Network); err == nil && strings.Contains(f.Network, "://") {
		return f.Network, nil
	}
	return "", fmt.Errorf("--subtensor.network %q: unknown (finney, test, local, archive, or give --subtensor.chain_endpoint)", f.Network)
}

// Check reports the first flag that cannot work, before anything is opened.
func (f *Flags) Check(role Role) error {
	switch {
	case f.NetUID == 0 || f.NetUID > 0xffff:
		return errors.New("--netuid is required (1 … 65535)")
	case f.Bucket == "":
		return errors.New("--bucket is required")
	case f.Params == "":
		return errors.New("--params is required")
	case f.WalletName == "" || f.WalletHotkey == "" || f.WalletPath == "":
		return errors.New("--wallet.name, --wallet.hotkey and --wallet.path must not be empty")
	case f.LogFormat != "text" && f.LogFormat != "json":
		return fmt.Errorf("--logging.format %q: want text or json", f.LogFormat)
	case role == Validator && f.SampleSize < 1:
		return fmt.Errorf("--sample %d: want at least 1", f.SampleSize)
	case role == Validator && f.EvalPages < 0:
		return fmt.Errorf("--eval.pages %d: want 0 or more", f.EvalPages)
	}
	switch _, ok := device(f.Device); {
	case f.Device == "cpu" || ok:
	case f.Device == "cuda":
		return errors.New("--device cuda: this binary has no GPU trainer; build the GPU miner and validator of train/cuda (cd train/cuda && go build -tags cuda ./cmd/...), or use --device cpu")
	default:
		return fmt.Errorf("--device %q: want cpu or cuda", f.Device)
	}
	_, err := f.Endpoint()
	return err
}

// StateDir is the node's state folder: --state, or a default under the
// working directory named by subnet, wallet and hotkey.
func (f *Flags) StateDir() string {
	if f.State != "" {
		return f.State
	}
	return filepath.Join("bistro-state", fmt.Sprint(f.NetUID), f.WalletName+"-"+f.WalletHotkey)
}

// LoadDotEnv reads a .env file in the working directory into the process
// environment, as the original (python-dotenv) did: variables already set
// win. A missing file is not an error.
func LoadDotEnv() error {
	if _, err := os.Stat(".env"); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := godotenv.Load(".env"); err != nil {
		return fmt.Errorf(".env: %w", err)
	}
	return nil
}

// DeviceTrainer opens the trainer of a --device for the subnet's Params.
type DeviceTrainer func(p *bistro.Params) (bistro.Trainer, error)

var (
	devicesMu sync.RWMutex
	devices   = map[string]DeviceTrainer{}
)

// RegisterDevice makes --device name select open's trainer; "cpu" is built
// in. The GPU binaries of train/cuda register "cuda". It panics on an empty
// name, "cpu", a second registration or a nil open: programming errors.
func RegisterDevice(name string, open DeviceTrainer) {
	devicesMu.Lock()
	defer devicesMu.Unlock()
	if name == "" || name == "cpu" || open == nil {
		panic("operator: RegisterDevice with an empty or reserved name or a nil trainer")
	}
	if _, dup := devices[name]; dup {
		panic("operator: RegisterDevice called twice for " + name)
	}
	devices[name] = open
}

func device(name string) (DeviceTrainer, bool) {
	devicesMu.RLock()
	defer devicesMu.RUnlock()
	d, ok := devices[name]
	return d, ok
}
