package netguard_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/internal/netguard"
)

func TestDialControl(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8:443":              true,
		"[2606:4700::1111]:443":    true,
		"127.0.0.1:443":            false,
		"10.1.2.3:9000":            false,
		"169.254.169.254:80":       false,
		"[::1]:443":                false,
		"[::ffff:192.168.1.1]:443": false,
		"[fe80::1%eth0]:443":       false,
		"nonsense":                 false,
		"s3.amazonaws.com:443":     false, // Control sees addresses, never names
	} {
		err := netguard.DialControl("tcp", addr, nil)
		if public {
			assert.NoError(t, err, addr)
		} else {
			assert.ErrorIs(t, err, bistro.ErrEndpoint, addr)
		}
	}
}

// TestDialRefusesResolvedPrivate: a name that resolves to a private address
// ("localhost" here) is refused at dial time, before a connection is made.
func TestDialRefusesResolvedPrivate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)

	d := &net.Dialer{Control: netguard.DialControl}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(host, port))
		if c != nil {
			c.Close()
		}
		assert.ErrorIs(t, err, bistro.ErrEndpoint, host)
	}

	plain, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err, "the listener is reachable without the check")
	plain.Close()
}
