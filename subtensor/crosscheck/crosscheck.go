// Package crosscheck runs bistro's Subtensor encoding, signing and wallet
// encryption against an independent implementation: npm @polkadot/types
// 16.5.6, @polkadot/util-crypto and @polkadot/keyring 14.0.3, and
// libsodium-wrappers-sumo 0.8.4 (check.cjs, under node). Its tests compare
// byte for byte call encodings, storage keys, signing payloads and signed
// extrinsics for every metadata of ../shared/fixtures/subtensor, check
// signatures both ways, and $NACL encryption both ways.
//
// The npm packages are installed by scripts/npm-crosscheck into
// ~/.cache/bistro/npm-<lock hash>/node_modules; the tests fail, naming
// what is missing, when node or those modules are absent.
package crosscheck

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrMissing is wrapped when node or the npm packages are not installed.
var ErrMissing = errors.New("crosscheck: missing")

// EnvNodeModules overrides where the npm packages are (a node_modules
// folder); EnvCache overrides the cache root (~/.cache/bistro).
const (
	EnvNodeModules = "BISTRO_NODE_MODULES"
	EnvCache       = "BISTRO_CACHE"
)

// Harness runs check.cjs.
type Harness struct {
	// Dir is the folder of check.cjs and package-lock.json.
	Dir string
	// NodeModules is the node_modules folder check.cjs loads its packages
	// from.
	NodeModules string
	// Node is the node binary.
	Node string
}

// LockHash is the cache key of a package-lock.json: the first 16 hex
// digits of its SHA-256, as scripts/npm-crosscheck computes it.
func LockHash(lock []byte) string {
	h := sha256.Sum256(lock)
	return hex.EncodeToString(h[:])[:16]
}

// Find locates node and the npm packages for the harness in dir (the
// folder of check.cjs). It fails with ErrMissing, saying what to run.
func Find(dir string) (*Harness, error) {
	h := &Harness{Dir: dir}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node is not on PATH; install Node.js 18 or later (Debian: apt-get install nodejs npm), then run scripts/npm-crosscheck", ErrMissing)
	}
	h.Node = node
	if nm := os.Getenv(EnvNodeModules); nm != "" {
		h.NodeModules = nm
	} else {
		lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMissing, err)
		}
		root := os.Getenv(EnvCache)
		if root == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("%w: home directory: %v", ErrMissing, err)
			}
			root = filepath.Join(home, ".cache", "bistro")
		}
		h.NodeModules = filepath.Join(root, "npm-"+LockHash(lock), "node_modules")
	}
	for _, pkg := range []string{"@polkadot/types", "@polkadot/util-crypto", "@polkadot/keyring", "libsodium-wrappers-sumo"} {
		if _, err := os.Stat(filepath.Join(h.NodeModules, pkg, "package.json")); err != nil {
			return nil, fmt.Errorf("%w: npm package %s is not in %s; run scripts/npm-crosscheck (it installs subtensor/crosscheck/package-lock.json there)", ErrMissing, pkg, h.NodeModules)
		}
	}
	return h, nil
}

// Op is one operation of check.cjs: "op" names it, the rest are its
// inputs.
type Op map[string]any

// Run runs check.cjs once over ops and returns one raw JSON result per op.
// A result with an "error" member is an op that failed on the node side.
func (h *Harness) Run(ctx context.Context, ops []Op) ([]json.RawMessage, error) {
	req, err := json.Marshal(map[string]any{"ops": ops})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, h.Node, filepath.Join(h.Dir, "check.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+h.NodeModules)
	cmd.Stdin = bytes.NewReader(req)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("crosscheck: node check.cjs: %v\n%s", err, stderr.String())
	}
	var resp struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return nil, fmt.Errorf("crosscheck: node output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if len(resp.Results) != len(ops) {
		return nil, fmt.Errorf("crosscheck: %d results for %d ops", len(resp.Results), len(ops))
	}
	return resp.Results, nil
}
