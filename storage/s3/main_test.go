package s3_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro/storage/s3"
	"github.com/bistro-go/bistro/storage/s3/s3test"
)

// srv is the versitygw server every test of this package uses.
var srv *s3test.Server

// TestMain starts the real S3 server on a loopback port, runs the tests and
// stops it. A missing server binary fails the package (never a skip): run
// ./scripts/s3server once.
func TestMain(m *testing.M) {
	var err error
	srv, err = s3test.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Close()
	os.Exit(code)
}

var buckets atomic.Int64

// bucketName returns a new bucket name for t.
func bucketName(t testing.TB) string {
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	name = strings.Trim(name, "-")
	if len(name) > 40 {
		name = strings.Trim(name[len(name)-40:], "-")
	}
	return fmt.Sprintf("b%d-%s", buckets.Add(1), name)
}

// newStore creates an empty bucket for t on the server.
func newStore(t testing.TB) *s3.Store {
	t.Helper()
	st, err := srv.NewBucket(t.Context(), bucketName(t))
	require.NoError(t, err)
	return st
}
