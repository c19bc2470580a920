package s3test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what a Proxy does to a request a Rule selects.
type Fault int

const (
	// Pass forwards the request untouched.
	Pass Fault = iota
	// Status500 answers 500 InternalError without forwarding.
	Status500
	// SlowDown answers 503 SlowDown (S3's throttling) without forwarding.
	SlowDown
	// Slow waits Rule.Delay, then forwards.
	Slow
	// Reset closes the connection with a TCP reset before answering.
	Reset
	// Truncate forwards, then sends the headers and only the first half of
	// the body before aborting the connection.
	Truncate
	// Stall forwards, sends the headers and the first half of the body, then
	// sends nothing more until the client goes away.
	Stall
	// Tamper forwards and replaces the body with Rule.Transform of it, with
	// consistent lengths: a server that serves different bytes to this reader.
	Tamper
	// Lie answers a HEAD with a Content-Length of 1, and a GET with status 200,
	// no length, no range, and an endless body: a server lying about sizes.
	Lie
)

var faultNames = [...]string{"pass", "500", "slowdown", "slow", "reset", "truncate", "stall", "tamper", "lie"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Rule selects requests and the fault done to them. The first rule that
// matches a request, and has times left, applies.
type Rule struct {
	// Method ("GET", "HEAD", "PUT", …) and Path (a substring of the URL
	// path, "/bucket/key" for path-style requests) select requests; empty
	// matches all.
	Method, Path string
	// Every, when > 1, makes the rule affect only every Every-th request
	// it selects (sporadic faults); the others pass on to the next rules.
	Every int
	// Times is how many requests the rule affects; 0 means no limit.
	Times int
	Fault Fault
	// Delay is Slow's wait.
	Delay time.Duration
	// Transform is Tamper's: it gets the body and returns what is served.
	Transform func([]byte) []byte
}

// Proxy is an HTTP proxy on a loopback port in front of an S3 server that
// injects faults by rule. It is safe for concurrent use.
type Proxy struct {
	// URL is the proxy's endpoint, "http://127.0.0.1:<port>".
	URL string

	srv      *http.Server
	ln       net.Listener
	rp       *httputil.ReverseProxy
	mu       sync.Mutex
	rules    []*ruleState
	requests atomic.Int64
	injected atomic.Int64
	lied     atomic.Int64
	done     chan struct{}
}

type ruleState struct {
	Rule
	left int // -1: unlimited
	seen int // requests selected, for Every
}

type ctxKey struct{}

// NewProxy starts a proxy in front of target (an endpoint URL). Close stops it.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("s3test: proxy target: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("s3test: proxy: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ln: ln, done: make(chan struct{})}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Keep the Host the client signed: SigV4 covers it.
			pr.Out.Host = pr.In.Host
		},
		FlushInterval:  -1,
		ModifyResponse: p.modify,
		ErrorLog:       discardLog,
		Transport:      &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln)
	}()
	return p, nil
}

// SetRules replaces the rules; none forwards everything.
func (p *Proxy) SetRules(rules ...Rule) {
	st := make([]*ruleState, len(rules))
	for i, r := range rules {
		left := r.Times
		if left == 0 {
			left = -1
		}
		st[i] = &ruleState{Rule: r, left: left}
	}
	p.mu.Lock()
	p.rules = st
	p.mu.Unlock()
}

// Requests returns how many requests reached the proxy.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Injected returns how many requests got a fault other than Pass.
func (p *Proxy) Injected() int64 { return p.injected.Load() }

// LieBytes returns how many body bytes Lie has sent.
func (p *Proxy) LieBytes() int64 { return p.lied.Load() }

// Close stops the proxy and waits for it.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		p.srv.Close()
	}
	<-p.done
	return nil
}

func (p *Proxy) match(r *http.Request) *ruleState {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rs := range p.rules {
		if rs.left == 0 || (rs.Method != "" && rs.Method != r.Method) ||
			(rs.Path != "" && !strings.Contains(r.URL.Path, rs.Path)) {
			continue
		}
		if rs.seen++; rs.Every > 1 && rs.seen%rs.Every != 0 {
			continue
		}
		if rs.left > 0 {
			rs.left--
		}
		return rs
	}
	return nil
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	rs := p.match(r)
	if rs == nil || rs.Fault == Pass {
		p.rp.ServeHTTP(w, r)
		return
	}
	p.injected.Add(1)
	switch rs.Fault {
	case Status500:
		s3Error(w, r, http.StatusInternalServerError, "InternalError", "injected failure")
		return
	case SlowDown:
		s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "injected throttling")
		return
	case Reset:
		reset(w)
		return
	case Slow:
		select {
		case <-time.After(rs.Delay):
		case <-r.Context().Done():
			return
		}
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, rs)))
}

// modify applies the body faults to the upstream's response.
func (p *Proxy) modify(resp *http.Response) error {
	rs, _ := resp.Request.Context().Value(ctxKey{}).(*ruleState)
	if rs == nil {
		return nil
	}
	ctx := resp.Request.Context()
	switch rs.Fault {
	case Truncate, Stall:
		if resp.ContentLength <= 0 || resp.Request.Method == http.MethodHead {
			return nil
		}
		resp.Body = &cutBody{r: resp.Body, left: resp.ContentLength / 2, stall: rs.Fault == Stall, ctx: ctx}
	case Tamper:
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if rs.Transform != nil && resp.StatusCode/100 == 2 {
			b = rs.Transform(b)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	case Lie:
		if resp.StatusCode/100 != 2 {
			return nil
		}
		if resp.Request.Method == http.MethodHead {
			resp.Header.Set("Content-Length", "1")
			resp.ContentLength = 1
			return nil
		}
		resp.Body.Close()
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		resp.Header.Del("Content-Range")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Body = &endless{ctx: ctx, sent: &p.lied}
	}
	return nil
}

// discardLog silences the proxy's own complaints about the faults it injects.
var discardLog = log.New(io.Discard, "", 0)

// cutBody yields left bytes, then fails (Truncate) or blocks until ctx ends
// (Stall).
type cutBody struct {
	r     io.ReadCloser
	left  int64
	stall bool
	ctx   context.Context
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left <= 0 {
		if c.stall {
			<-c.ctx.Done()
			return 0, c.ctx.Err()
		}
		return 0, fmt.Errorf("s3test: injected truncation")
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

// endless yields 'x' bytes until ctx ends, counting them.
type endless struct {
	ctx  context.Context
	sent *atomic.Int64
}

func (e *endless) Read(b []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, err
	}
	b = b[:min(len(b), 32<<10)]
	for i := range b {
		b[i] = 'x'
	}
	e.sent.Add(int64(len(b)))
	return len(b), nil
}

func (e *endless) Close() error { return nil }

// s3Error writes an S3 error response (no body for HEAD).
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
	}
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
