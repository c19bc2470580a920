package clienttest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ChopsticksVersion is the @acala-network/chopsticks version
// scripts/chopsticks installs.
const ChopsticksVersion = "1.5.1"

// EnvChopsticks overrides where the chopsticks binary is.
const EnvChopsticks = "BISTRO_CHOPSTICKS"

// ErrMissing is wrapped when node or chopsticks is not installed.
var ErrMissing = errors.New("clienttest: missing")

// FindChopsticks returns the chopsticks binary: $BISTRO_CHOPSTICKS, else
// the one scripts/chopsticks installs under ${BISTRO_CACHE:-~/.cache/bistro}.
// It fails with ErrMissing, saying what to run.
func FindChopsticks() (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: node is not on PATH; install Node.js 20 or later (Debian: apt-get install nodejs npm), then run scripts/chopsticks", ErrMissing)
	}
	if p := os.Getenv(EnvChopsticks); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $%s=%s: %v", ErrMissing, EnvChopsticks, p, err)
		}
		return p, nil
	}
	root := os.Getenv("BISTRO_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: home directory: %v", ErrMissing, err)
		}
		root = filepath.Join(home, ".cache", "bistro")
	}
	dir := filepath.Join(root, "chopsticks-"+ChopsticksVersion)
	bin := filepath.Join(dir, "node_modules", ".bin", "chopsticks")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		return "", fmt.Errorf("%w: chopsticks %s is not installed in %s; run scripts/chopsticks (once, about 90 s)", ErrMissing, ChopsticksVersion, dir)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%w: %v; run scripts/chopsticks", ErrMissing, err)
	}
	return bin, nil
}

// DefaultStall is Chopsticks.Stall as StartChopsticks sets it.
const DefaultStall = 3 * time.Minute

// Chopsticks is a chopsticks process running a chain from a raw chain
// spec on 127.0.0.1, in Instant block mode (a block per submitted
// extrinsic) with dev_newBlock for more.
type Chopsticks struct {
	// URL is the websocket URL; HTTP answers on the same port.
	URL string
	// Started and Ready are how long the process took to listen and to
	// have block #1.
	Started, Ready time.Duration
	// Stall is how long the harness waits for chopsticks to make progress
	// (answer a request, build the next block) before it fails. It bounds
	// no call's total time: building 100 blocks on a busy machine takes as
	// long as it takes, as long as each block comes within Stall.
	Stall time.Duration

	cmd     *exec.Cmd
	log     string
	httpURL string
	done    chan struct{}
	waitErr error
	once    sync.Once
}

// StartChopsticks starts bin on genesis (a raw chain spec) on a free
// loopback port, waits until it answers, and makes sure block #1 exists
// (building it at start-up rarely fails on Aura's slot check; dev_newBlock
// then builds it). Its output goes to logDir/chopsticks.log. The process
// is killed by Close, and by the kernel if the test binary dies first.
func StartChopsticks(ctx context.Context, bin, genesis, logDir string) (*Chopsticks, error) {
	var lastErr error
	for range 3 {
		c, err := startOnce(ctx, bin, genesis, logDir)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startOnce(ctx context.Context, bin, genesis, logDir string) (*Chopsticks, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, "chopsticks.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The binary itself, never npx: npx leaves wrapper processes that
	// outlive a kill.
	cmd := exec.Command(bin, "--genesis="+genesis, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--build-block-mode", "Instant")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("clienttest: start %s: %w", bin, err)
	}
	c := &Chopsticks{
		URL:     fmt.Sprintf("ws://127.0.0.1:%d", port),
		httpURL: fmt.Sprintf("http://127.0.0.1:%d", port),
		Stall:   DefaultStall,
		cmd:     cmd,
		log:     logPath,
		done:    make(chan struct{}),
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	fail := func(err error) (*Chopsticks, error) {
		c.Close()
		return nil, fmt.Errorf("%w\n--- %s (last lines) ---\n%s", err, logPath, c.LogTail(30))
	}
	// Listening after 3–6 s on an idle machine, much later on a busy one:
	// wait while the process lives and writes to its log, and give up
	// only when it has done neither for Stall.
	var (
		n        uint64
		logSize  int64
		progress = start
	)
	for {
		select {
		case <-c.done:
			return fail(fmt.Errorf("clienttest: chopsticks (pid %d) exited: %v", cmd.Process.Pid, c.waitErr))
		case <-ctx.Done():
			return fail(ctx.Err())
		default:
		}
		if n, err = c.headNumber(ctx); err == nil {
			break
		}
		if fi, serr := os.Stat(logPath); serr == nil && fi.Size() != logSize {
			logSize, progress = fi.Size(), time.Now()
		}
		if time.Since(progress) >= c.Stall {
			return fail(fmt.Errorf("clienttest: chopsticks (pid %d) not answering on %s and its log unchanged for %v (%v after start): %v",
				cmd.Process.Pid, c.httpURL, c.Stall, time.Since(start).Round(time.Second), err))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Started = time.Since(start)
	for try := 0; n < 1; try++ {
		if try == 5 {
			return fail(errors.New("clienttest: chopsticks stays at block #0 after 5 dev_newBlock"))
		}
		_ = c.Call(ctx, "dev_newBlock", []any{}, nil)
		if n, err = c.headNumber(ctx); err != nil {
			return fail(err)
		}
	}
	c.Ready = time.Since(start)
	return c, nil
}

func (c *Chopsticks) headNumber(ctx context.Context) (uint64, error) {
	var h struct {
		Number string `json:"number"`
	}
	if err := c.Call(ctx, "chain_getHeader", []any{}, &h); err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimPrefix(h.Number, "0x"), 16, 64)
}

// Pid returns the process id.
func (c *Chopsticks) Pid() int { return c.cmd.Process.Pid }

// Call makes one JSON-RPC call over HTTP and waits at most Stall for its
// answer: a request unanswered that long means chopsticks is stuck.
func (c *Chopsticks) Call(ctx context.Context, method string, params []any, out any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.Stall)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, c.httpURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			return fmt.Errorf("clienttest: %s: no answer from chopsticks within Stall %v: %w", method, c.Stall, err)
		}
		return fmt.Errorf("clienttest: %s: %w", method, err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("clienttest: %s: %w", method, err)
	}
	if r.Error != nil {
		return fmt.Errorf("clienttest: %s: rpc error %d: %s", method, r.Error.Code, r.Error.Message)
	}
	if out != nil {
		return json.Unmarshal(r.Result, out)
	}
	return nil
}

// NewBlocks builds n blocks and returns once they exist. It asks for one
// block per request (dev_newBlock), so that each answer is progress: it
// has no deadline of its own besides ctx, and fails only when chopsticks
// built no block for Stall, saying at which block. A failed request is
// tried again unless the head shows its block was built; one unanswered
// for Stall is not, as chopsticks may still build its block.
func (c *Chopsticks) NewBlocks(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	from, err := c.headNumber(ctx)
	if err != nil {
		return fmt.Errorf("clienttest: NewBlocks(%d): the head: %w", n, err)
	}
	head, target := from, from+uint64(n)
	progress := time.Now()
	for head < target {
		err := c.Call(ctx, "dev_newBlock", []any{map[string]any{"count": 1}}, nil)
		if err == nil {
			head++
			progress = time.Now()
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("clienttest: NewBlocks(%d): at block #%d, %d built: %w", n, head, head-from, err)
		}
		if h, herr := c.headNumber(ctx); herr == nil && h > head {
			head, progress = h, time.Now() // built, though the answer was lost
			continue
		}
		if time.Since(progress) >= c.Stall {
			return fmt.Errorf("clienttest: NewBlocks(%d): chopsticks built no block for %v after block #%d (%d of %d built): %w",
				n, c.Stall, head, head-from, n, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clienttest: NewBlocks(%d): at block #%d, %d built: %w", n, head, head-from, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	return nil
}

// SetStorage writes raw storage values at the head block, in place
// (dev_setStorage): a nil value deletes the key.
func (c *Chopsticks) SetStorage(ctx context.Context, kv [][2][]byte) error {
	pairs := make([][2]any, len(kv))
	for i, p := range kv {
		pairs[i][0] = "0x" + hex.EncodeToString(p[0])
		if p[1] != nil {
			pairs[i][1] = "0x" + hex.EncodeToString(p[1])
		}
	}
	return c.Call(ctx, "dev_setStorage", []any{pairs}, nil)
}

// LogTail returns the last n lines of the process's output.
func (c *Chopsticks) LogTail(n int) string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Close kills the process (SIGTERM, SIGKILL after 5 s) and waits for it.
func (c *Chopsticks) Close() error {
	c.once.Do(func() {
		select {
		case <-c.done:
			return
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return nil
}
