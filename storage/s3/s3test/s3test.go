// Package s3test runs a real S3 server on 127.0.0.1 for tests: versitygw,
// pinned, built once by the project's scripts/s3server into the user's cache.
// A test package starts one server in TestMain and stops it at the end:
//
//	var srv *s3test.Server
//
//	func TestMain(m *testing.M) {
//		var err error
//		if srv, err = s3test.Start(context.Background()); err != nil {
//			fmt.Fprintln(os.Stderr, err) // names scripts/s3server when the binary is missing
//			os.Exit(1)
//		}
//		code := m.Run()
//		srv.Close()
//		os.Exit(code)
//	}
//
// There is no skip: a missing server fails the tests, in CI and locally alike.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/bistro-go/bistro/storage/s3"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

// EnvBinary names the environment variable that overrides the binary's path.
const EnvBinary = "BISTRO_VERSITYGW"

// Binary returns the path of the versitygw binary: $BISTRO_VERSITYGW, else
// <user cache>/bistro/versitygw-<Version>/versitygw, where scripts/s3server
// puts it. The error says how to build it.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("s3test: %s=%q is not a binary: run ./scripts/s3server", EnvBinary, p)
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("s3test: no cache folder (%v): run ./scripts/s3server and set %s", err, EnvBinary)
	}
	p := filepath.Join(cache, "bistro", "versitygw-"+Version, "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("s3test: the S3 test server (versitygw %s) is not built at %s: "+
			"run ./scripts/s3server once (it builds it, about 80 s), or set %s", Version, p, EnvBinary)
	}
	return p, nil
}

// Server is a running versitygw on a loopback port, serving a temporary
// folder with one root account.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:<port>".
	Endpoint string
	// Region is the region the server answers for.
	Region string
	// AccessKey and SecretKey are the root account's key, made up at Start.
	AccessKey, SecretKey string

	dir    string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	once   sync.Once
}

// Start starts a server on a free loopback port with an empty temporary
// folder, and returns once it answers. Close stops it and removes the folder.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and listen
		s, err := start(ctx, bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(ctx context.Context, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bistro-s3test-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
		Region:    "us-east-1",
		AccessKey: "bistrotest" + randomHex(6),
		SecretKey: "bistro-test-secret-" + randomHex(16),
		dir:       dir,
		out:       &syncBuffer{},
		exited:    make(chan struct{}),
	}
	// Global flags go before the backend subcommand. Keep-alive lets
	// clients reuse connections, as real services do.
	s.cmd = exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet", "--keep-alive",
		"--region", s.Region, "posix", filepath.Join(dir, "root"))
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = sysProcAttr()
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: start %s: %w", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, 15*time.Second); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls the endpoint until it answers HTTP.
func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("s3test: versitygw exited at start: %s", bytes.TrimSpace(s.out.Bytes()))
		case <-ctx.Done():
			return fmt.Errorf("s3test: versitygw did not answer at %s: %w; output: %s",
				s.Endpoint, ctx.Err(), bytes.TrimSpace(s.out.Bytes()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops the server and removes its folder. It may be called twice.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		if s.cmd.Process != nil {
			s.cmd.Process.Signal(os.Interrupt)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
		err = os.RemoveAll(s.dir)
	})
	return err
}

// Pid returns the server's process id (0 before it started).
func (s *Server) Pid() int {
	if s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Output returns what the server printed so far.
func (s *Server) Output() string { return s.out.String() }

// Options returns s3.Options for a bucket of this server with the root key,
// path-style, and short timeouts and backoff suited to tests.
func (s *Server) Options(bucket string) s3.Options {
	o := s3.DefaultOptions()
	o.Bucket, o.Endpoint, o.Region, o.PathStyle = bucket, s.Endpoint, s.Region, true
	o.AccessKeyID, o.SecretAccessKey = s.AccessKey, s.SecretKey
	o.Timeout, o.HeaderTimeout, o.DialTimeout = 30*time.Second, 10*time.Second, 2*time.Second
	o.BaseDelay, o.MaxBackoff = 5*time.Millisecond, 100*time.Millisecond
	return o
}

// NewBucket creates a bucket and returns a Store of it with Options(name).
func (s *Server) NewBucket(ctx context.Context, name string) (*s3.Store, error) {
	st, err := s3.New(ctx, s.Options(name))
	if err != nil {
		return nil, err
	}
	if err := st.CreateBucket(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// UniqueBucket returns a fresh valid bucket name starting with prefix (at
// most 40 bytes of [a-z0-9-]).
func UniqueBucket(prefix string) string {
	return fmt.Sprintf("%s-%s", prefix, randomHex(6))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("s3test: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil // keep the start; the server's output is for errors
	}
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }
