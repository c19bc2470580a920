package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/bistro-go/bistro/subtensor"
)

// ErrUnreachable is returned (wrapped, with the URL and the cause) when the
// endpoint cannot be dialled: a dead node, a wrong URL, no network.
var ErrUnreachable = errors.New("subtensor/client: endpoint unreachable")

// ErrConnectionLost is returned (wrapped) by a call whose answer was lost
// because the websocket closed while it was in flight, and by
// Subscription.Next when its connection closes. Reads are retried on a new
// connection first (Options.Retries); submissions never are.
var ErrConnectionLost = errors.New("subtensor/client: connection lost")

// ErrClosed is returned by every method of a closed Client and by Next on
// a closed stream or subscription (it is subtensor.ErrClosed).
var ErrClosed = subtensor.ErrClosed

// RPCError is an error answered by the node: the JSON-RPC error object.
type RPCError struct {
	Method  string
	Code    int
	Message string
	Data    json.RawMessage
}

func (e *RPCError) Error() string {
	if len(e.Data) > 0 && string(e.Data) != "null" {
		return fmt.Sprintf("subtensor/client: %s: rpc error %d: %s: %s", e.Method, e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("subtensor/client: %s: rpc error %d: %s", e.Method, e.Code, e.Message)
}

// DataString returns Data as a string when it is a JSON string, else its
// raw text.
func (e *RPCError) DataString() string {
	var s string
	if json.Unmarshal(e.Data, &s) == nil {
		return s
	}
	return string(e.Data)
}

// Codes of JSON-RPC errors that Substrate nodes answer.
const (
	codeMethodNotFound = -32601
	// codeInvalidTx and codeUnknownTx are author_submit's "Invalid
	// Transaction" and "Unknown Transaction" (pool validation failed).
	codeInvalidTx = 1010
	codeUnknownTx = 1011
)

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// rpcMessage is any message from the node: an answer (ID set) or a
// subscription notification (Method and Params set).
type rpcMessage struct {
	ID     *uint64         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
	Method string `json:"method"`
	Params *struct {
		Subscription json.RawMessage `json:"subscription"`
		Result       json.RawMessage `json:"result"`
	} `json:"params"`
}

type rpcAnswer struct {
	result json.RawMessage
	err    error
}

type pendingCall struct {
	method string
	answer chan rpcAnswer // buffered 1
	// sub, for a subscribing call, is registered under the id the node
	// answers before any later message is read, so that no notification
	// can get ahead of it.
	sub *Subscription
}

// conn is one websocket connection with its calls in flight and its
// subscriptions. A conn never reconnects: when it breaks, every pending
// call and subscription ends with ErrConnectionLost and the rpc dials a new
// one for the next call.
type conn struct {
	ws           *websocket.Conn
	url          string
	writeTimeout time.Duration

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*pendingCall
	subs    map[string]*Subscription
	err     error // why the conn ended; set once
	done    chan struct{}
	cancel  context.CancelFunc
}

func dialConn(ctx context.Context, url string, o *Options) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
	}
	ws.SetReadLimit(o.ReadLimit)
	lctx, lcancel := context.WithCancel(context.Background())
	c := &conn{
		ws:           ws,
		url:          url,
		writeTimeout: o.CallTimeout,
		pending:      map[uint64]*pendingCall{},
		subs:         map[string]*Subscription{},
		done:         make(chan struct{}),
		cancel:       lcancel,
	}
	go c.readLoop(lctx)
	return c, nil
}

// closed reports whether the conn has ended or is ending.
func (c *conn) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// close ends the conn (idempotent).
func (c *conn) close(why error) {
	c.fail(why)
	c.ws.CloseNow()
	<-c.done
}

// fail records why the conn ended and fails everything waiting on it.
func (c *conn) fail(why error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = why
	pending, subs := c.pending, c.subs
	c.pending, c.subs = map[uint64]*pendingCall{}, map[string]*Subscription{}
	c.mu.Unlock()
	c.cancel()
	for _, p := range pending {
		p.answer <- rpcAnswer{err: fmt.Errorf("%w: %s: %v", ErrConnectionLost, p.method, why)}
	}
	for _, s := range subs {
		s.end(fmt.Errorf("%w: %v", ErrConnectionLost, why))
	}
}

func (c *conn) readLoop(ctx context.Context) {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.fail(err)
			return
		}
		var m rpcMessage
		if err := json.Unmarshal(b, &m); err != nil {
			c.fail(fmt.Errorf("malformed message from node: %v", err))
			c.ws.CloseNow()
			return
		}
		switch {
		case m.ID != nil:
			c.answer(&m)
		case m.Params != nil:
			c.notify(&m)
		}
	}
}

func (c *conn) answer(m *rpcMessage) {
	c.mu.Lock()
	p, ok := c.pending[*m.ID]
	delete(c.pending, *m.ID)
	if !ok {
		c.mu.Unlock()
		return // a call that gave up
	}
	var a rpcAnswer
	if m.Error != nil {
		a.err = &RPCError{Method: p.method, Code: m.Error.Code, Message: m.Error.Message, Data: m.Error.Data}
	} else {
		a.result = m.Result
	}
	if p.sub != nil && a.err == nil {
		id := subID(m.Result)
		if id == "" {
			a.err = fmt.Errorf("subtensor/client: %s: no subscription id in %s", p.method, m.Result)
		} else {
			p.sub.id = id
			c.subs[id] = p.sub
		}
	}
	c.mu.Unlock()
	p.answer <- a
}

func (c *conn) notify(m *rpcMessage) {
	id := subID(m.Params.Subscription)
	c.mu.Lock()
	s := c.subs[id]
	c.mu.Unlock()
	if s != nil {
		s.push(m.Params.Result)
	}
}

// subID normalizes a subscription id: nodes send strings, some numbers.
func subID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// call sends one request and waits for its answer, ctx or the conn's end.
func (c *conn) call(ctx context.Context, method string, params []any, sub *Subscription) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	ans := make(chan rpcAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %v", ErrConnectionLost, method, err)
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = &pendingCall{method: method, answer: ans, sub: sub}
	c.mu.Unlock()

	b, err := json.Marshal(rpcRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		c.forget(id)
		return nil, fmt.Errorf("subtensor/client: %s: encode params: %w", method, err)
	}
	// Write on a context of its own: coder/websocket closes the connection
	// when a write's context ends, and a caller's cancellation must not
	// break the connection others share.
	wctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
	err = c.ws.Write(wctx, websocket.MessageText, b)
	cancel()
	if err != nil {
		c.forget(id)
		c.fail(err)
		return nil, fmt.Errorf("%w: %s: %v", ErrConnectionLost, method, err)
	}
	select {
	case a := <-ans:
		return a.result, a.err
	case <-ctx.Done():
		c.forget(id)
		// An answer may have raced in; a subscription it registered must
		// not leak.
		select {
		case a := <-ans:
			if sub != nil && a.err == nil {
				c.unsubscribe(sub)
			}
		default:
		}
		return nil, fmt.Errorf("subtensor/client: %s: %w", method, ctx.Err())
	}
}

func (c *conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// unsubscribe drops s from the conn and tells the node, best effort.
func (c *conn) unsubscribe(s *Subscription) {
	c.mu.Lock()
	_, ok := c.subs[s.id]
	delete(c.subs, s.id)
	alive := c.err == nil
	c.mu.Unlock()
	if ok && alive && s.unsub != "" {
		// Best effort and brief: a stalled node must not hold up Close.
		ctx, cancel := context.WithTimeout(context.Background(), min(c.writeTimeout, 5*time.Second))
		defer cancel()
		_, _ = c.call(ctx, s.unsub, []any{s.id}, nil)
	}
}

// Subscription is a stream of notifications of one subscribing call
// (chain_subscribeFinalizedHeads, author_submitAndWatchExtrinsic …). It
// queues what arrives, however slowly it is read, so that a slow reader
// never holds up the connection. It ends when closed or when its
// connection does; it is not renewed on a new connection (BlockStream
// does that above it).
type Subscription struct {
	c     *conn
	id    string
	unsub string

	mu     sync.Mutex
	queue  []json.RawMessage
	err    error // set once it ended
	signal chan struct{}
}

func newSubscription(unsub string) *Subscription {
	return &Subscription{unsub: unsub, signal: make(chan struct{}, 1)}
}

func (s *Subscription) push(m json.RawMessage) {
	s.mu.Lock()
	if s.err == nil {
		s.queue = append(s.queue, m)
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.wake()
}

// Next returns the next notification's result, in order. Notifications
// that arrived before the subscription ended are still returned; then Next
// returns the reason it ended (ErrConnectionLost, ErrClosed) or ctx's
// error.
func (s *Subscription) Next(ctx context.Context) (json.RawMessage, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			m := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return m, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-s.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the subscription and unsubscribes on the node (best effort).
func (s *Subscription) Close() error {
	s.end(ErrClosed)
	if s.c != nil {
		s.c.unsubscribe(s)
	}
	return nil
}
