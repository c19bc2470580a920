// Package netguard keeps connections to endpoints read from the chain off
// private networks. The endpoint rule (bistro.CheckEndpoint, SPEC.md §6)
// judges a committed host name, but a public name can resolve to a refused
// address; DialControl judges the address actually dialled, after
// resolution, against the same ranges (bistro.PublicAddr).
//
//	d := &net.Dialer{Timeout: 10 * time.Second, Control: netguard.DialControl}
//	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil}
//
// A proxy would dial on the client's behalf, past the check: a transport
// that uses DialControl must not use one.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/bistro-go/bistro"
)

// DialControl is a net.Dialer Control function that refuses to connect to
// any address bistro.PublicAddr rejects, whatever name resolved to it. Its
// errors wrap bistro.ErrEndpoint, so that callers can tell a refusal, which
// stays refused, from a transport error worth retrying.
func DialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: dial %q: %v", bistro.ErrEndpoint, address, err)
	}
	if !bistro.PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: dial %s: not a public address", bistro.ErrEndpoint, ap.Addr())
	}
	return nil
}

var _ = net.Dialer{Control: DialControl}
