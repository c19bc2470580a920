// Package clienttest serves the Subtensor client's tests: a loopback
// websocket server that replays a recorded JSON-RPC session, a TCP proxy
// that can cut connections, and a launcher for chopsticks running a real
// Subtensor runtime offline.
package clienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Recording is a recorded JSON-RPC session: for each method, the calls
// made with their parameters and results (the layout of bittensor's
// integration_websocket_data, e.g. metagraph_seed.json).
type Recording map[string][]Call

// Call is one recorded call.
type Call struct {
	Params []json.RawMessage `json:"params"`
	Result json.RawMessage   `json:"result"`
}

// LoadRecording reads a recording from a JSON file.
func LoadRecording(path string) (Recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Recording
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("clienttest: %s: %w", path, err)
	}
	return r, nil
}

// Replay is a websocket JSON-RPC server on 127.0.0.1 that answers calls
// from a Recording. A call is matched by method and parameters; hex
// strings compare case-insensitively with or without 0x, and trailing
// nulls are dropped (chain_getHeader [] and [null] are one call). A call
// with no recording is answered with a JSON-RPC error: -32601 for a method
// never recorded, -32602 for other parameters. Answers registered with
// AnswerAny match any parameters.
type Replay struct {
	srv *httptest.Server

	mu      sync.Mutex
	exact   map[string]json.RawMessage // key(method, params) -> result
	methods map[string]bool
	any     map[string]json.RawMessage
	delay   map[string]time.Duration
	calls   map[string]int
	conns   map[*websocket.Conn]context.CancelFunc
	wg      sync.WaitGroup
}

// NewReplay starts a server answering from rec.
func NewReplay(rec Recording) *Replay {
	r := &Replay{
		exact:   map[string]json.RawMessage{},
		methods: map[string]bool{},
		any:     map[string]json.RawMessage{},
		delay:   map[string]time.Duration{},
		calls:   map[string]int{},
		conns:   map[*websocket.Conn]context.CancelFunc{},
	}
	for method, calls := range rec {
		r.methods[method] = true
		for _, c := range calls {
			r.exact[key(method, c.Params)] = c.Result
		}
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL returns the ws:// URL of the server.
func (r *Replay) URL() string { return "ws" + strings.TrimPrefix(r.srv.URL, "http") }

// Answer adds an answer for method with exactly params.
func (r *Replay) Answer(method string, params []any, result any) error {
	raw := make([]json.RawMessage, len(params))
	for i, p := range params {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		raw[i] = b
	}
	res, err := json.Marshal(result)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.methods[method] = true
	r.exact[key(method, raw)] = res
	return nil
}

// AnswerAny answers method with result whatever its parameters, when no
// exact answer matches.
func (r *Replay) AnswerAny(method string, result any) error {
	res, err := json.Marshal(result)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.methods[method] = true
	r.any[method] = res
	return nil
}

// Delay holds every answer to method back by d.
func (r *Replay) Delay(method string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay[method] = d
}

// Calls returns how many calls of method the server received.
func (r *Replay) Calls(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[method]
}

// DropConnections closes every open websocket, as a lost connection.
func (r *Replay) DropConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, cancel := range r.conns {
		cancel()
		c.CloseNow()
	}
}

// Close stops the server.
func (r *Replay) Close() {
	r.DropConnections()
	r.srv.Close()
	r.wg.Wait()
}

func (r *Replay) serve(w http.ResponseWriter, req *http.Request) {
	c, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(64 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.conns[c] = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		cancel()
		c.CloseNow()
	}()
	var writeMu sync.Mutex
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(b, &req); err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			resp := r.answer(ctx, req.Method, req.Params)
			resp["jsonrpc"] = "2.0"
			resp["id"] = req.ID
			out, _ := json.Marshal(resp)
			writeMu.Lock()
			defer writeMu.Unlock()
			_ = c.Write(ctx, websocket.MessageText, out)
		}()
	}
}

func (r *Replay) answer(ctx context.Context, method string, params []json.RawMessage) map[string]any {
	r.mu.Lock()
	r.calls[method]++
	d := r.delay[method]
	res, ok := r.exact[key(method, params)]
	if !ok {
		res, ok = r.any[method]
	}
	known := r.methods[method]
	r.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	switch {
	case ok:
		return map[string]any{"result": res}
	case !known:
		return map[string]any{"error": map[string]any{"code": -32601, "message": "Method not found (not recorded): " + method}}
	default:
		return map[string]any{"error": map[string]any{"code": -32602, "message": fmt.Sprintf("not recorded: %s %s", method, normParams(params))}}
	}
}

func key(method string, params []json.RawMessage) string { return method + " " + normParams(params) }

// normParams renders params canonically: hex strings lowercase with 0x,
// other values re-encoded, trailing nulls dropped.
func normParams(params []json.RawMessage) string {
	out := make([]string, 0, len(params))
	for _, p := range params {
		var v any
		if err := json.Unmarshal(p, &v); err != nil {
			out = append(out, string(p))
			continue
		}
		if s, ok := v.(string); ok && isHex(s) {
			v = "0x" + strings.ToLower(strings.TrimPrefix(s, "0x"))
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	for len(out) > 0 && out[len(out)-1] == "null" {
		out = out[:len(out)-1]
	}
	return "[" + strings.Join(out, ",") + "]"
}

func isHex(s string) bool {
	s = strings.TrimPrefix(s, "0x")
	if len(s) == 0 || len(s)%2 != 0 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Proxy is a TCP proxy on 127.0.0.1 to a target address whose connections
// can be cut, to test reconnection.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to target (host:port).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// Cut closes every connection through the proxy; new ones are accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Close stops the proxy and cuts its connections.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
