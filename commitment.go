package bistro

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Chain limits on commitments (Subtensor's Commitments pallet): at most
// MaxCommitmentFields fields, each Data::Raw of at most MaxCommitmentField
// bytes.
const (
	MaxCommitmentFields = 3
	MaxCommitmentField  = 128
)

// commitmentMagic starts field 0: 'b' and the commitment format version.
var commitmentMagic = [2]byte{'b', 1}

// ErrBadCommitment is wrapped by every commitment parsing error.
var ErrBadCommitment = errors.New("bistro: bad commitment")

// ErrEndpoint is wrapped by every endpoint rule violation.
var ErrEndpoint = errors.New("bistro: endpoint refused")

// Commitment is what a miner or validator announces on chain so that others
// can read its bucket (SPEC.md §6). The read key is meant to be a read-only
// credential: it is public the moment it is committed.
type Commitment struct {
	// Params is the digest of the Params the bucket serves.
	Params Hash `json:"params"`
	// Endpoint is the S3 endpoint URL, e.g.
	// "https://<account>.r2.cloudflarestorage.com".
	Endpoint string `json:"endpoint"`
	// Bucket and Region name the bucket.
	Bucket string `json:"bucket"`
	Region string `json:"region"`
	// ReadKeyID and ReadSecret are an optional read-only key; both or neither.
	ReadKeyID  string `json:"read_key_id,omitempty"`
	ReadSecret string `json:"read_secret,omitempty"`
}

// Fields encodes c into the raw fields of a chain commitment:
//
//	field 0: 'b' 0x01 ‖ params digest (32) ‖ u8 len ‖ region ‖ u8 len ‖ bucket
//	field 1: endpoint URL
//	field 2: u8 len ‖ read key id ‖ read secret      (only with a read key)
//
// It validates c first; every field fits MaxCommitmentField.
func (c *Commitment) Fields() ([][]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	f0 := make([]byte, 0, MaxCommitmentField)
	f0 = append(f0, commitmentMagic[:]...)
	f0 = append(f0, c.Params[:]...)
	f0 = append(f0, byte(len(c.Region)))
	f0 = append(f0, c.Region...)
	f0 = append(f0, byte(len(c.Bucket)))
	f0 = append(f0, c.Bucket...)
	fields := [][]byte{f0, []byte(c.Endpoint)}
	if c.ReadKeyID != "" {
		f2 := make([]byte, 0, 1+len(c.ReadKeyID)+len(c.ReadSecret))
		f2 = append(f2, byte(len(c.ReadKeyID)))
		f2 = append(f2, c.ReadKeyID...)
		f2 = append(f2, c.ReadSecret...)
		fields = append(fields, f2)
	}
	for i, f := range fields {
		if len(f) > MaxCommitmentField {
			return nil, fmt.Errorf("%w: field %d has %d bytes > %d", ErrBadCommitment, i, len(f), MaxCommitmentField)
		}
	}
	return fields, nil
}

// ParseCommitment decodes and validates the fields of a chain commitment. It
// checks the format only; the endpoint rule is CheckEndpoint's.
func ParseCommitment(fields [][]byte) (Commitment, error) {
	var c Commitment
	bad := func(format string, a ...any) (Commitment, error) {
		return Commitment{}, fmt.Errorf("%w: %s", ErrBadCommitment, fmt.Sprintf(format, a...))
	}
	if len(fields) < 2 || len(fields) > MaxCommitmentFields {
		return bad("%d fields (want 2 or 3)", len(fields))
	}
	for i, f := range fields {
		if len(f) > MaxCommitmentField {
			return bad("field %d has %d bytes > %d", i, len(f), MaxCommitmentField)
		}
	}
	f0 := fields[0]
	if len(f0) < 2+32+1 || f0[0] != commitmentMagic[0] || f0[1] != commitmentMagic[1] {
		return bad("field 0 is not a bistro v1 commitment")
	}
	copy(c.Params[:], f0[2:34])
	rest := f0[34:]
	var ok bool
	if c.Region, rest, ok = lenPrefixed(rest); !ok {
		return bad("field 0: region truncated")
	}
	if c.Bucket, rest, ok = lenPrefixed(rest); !ok {
		return bad("field 0: bucket truncated")
	}
	if len(rest) != 0 {
		return bad("field 0: %d trailing bytes", len(rest))
	}
	c.Endpoint = string(fields[1])
	if len(fields) == 3 {
		f2 := fields[2]
		if c.ReadKeyID, rest, ok = lenPrefixed(f2); !ok {
			return bad("field 2: read key id truncated")
		}
		c.ReadSecret = string(rest)
		if c.ReadKeyID == "" {
			return bad("field 2 present with an empty read key id")
		}
	}
	if err := c.validate(); err != nil {
		return Commitment{}, err
	}
	return c, nil
}

func lenPrefixed(b []byte) (string, []byte, bool) {
	if len(b) < 1 || int(b[0]) > len(b)-1 {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

func (c *Commitment) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadCommitment, fmt.Sprintf(format, a...))
	}
	if c.Params.IsZero() {
		return bad("params digest unset")
	}
	if err := validBucket(c.Bucket); err != nil {
		return bad("%v", err)
	}
	if len(c.Region) == 0 || len(c.Region) > 29 || !allBytes(c.Region, isLowerDigitDash) {
		return bad("region %q: want 1 … 29 of [a-z0-9-]", c.Region)
	}
	if len(c.Endpoint) == 0 || len(c.Endpoint) > MaxCommitmentField || !allBytes(c.Endpoint, isURLByte) {
		return bad("endpoint of %d bytes: want 1 … %d printable ASCII", len(c.Endpoint), MaxCommitmentField)
	}
	if (c.ReadKeyID == "") != (c.ReadSecret == "") {
		return bad("read key id and secret: both or neither")
	}
	if c.ReadKeyID != "" {
		if len(c.ReadKeyID) > 64 || !allBytes(c.ReadKeyID, isAlnum) {
			return bad("read key id: want 1 … 64 of [A-Za-z0-9]")
		}
		// The secret is never echoed in an error.
		if !allBytes(c.ReadSecret, isURLByte) {
			return bad("read secret: want printable ASCII without spaces")
		}
		if 1+len(c.ReadKeyID)+len(c.ReadSecret) > MaxCommitmentField {
			return bad("read key id and secret: %d bytes > %d", 1+len(c.ReadKeyID)+len(c.ReadSecret), MaxCommitmentField)
		}
	}
	if 2+32+2+len(c.Region)+len(c.Bucket) > MaxCommitmentField {
		return bad("region and bucket too long together for one field")
	}
	return nil
}

// validBucket applies S3's bucket naming rule: 3 … 63 of [a-z0-9.-],
// starting and ending with a letter or digit.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 || !allBytes(b, func(c byte) bool { return isLowerDigitDash(c) || c == '.' }) ||
		b[0] == '-' || b[0] == '.' || b[len(b)-1] == '-' || b[len(b)-1] == '.' {
		return fmt.Errorf("bucket %q: want 3 … 63 of [a-z0-9.-], starting and ending alphanumeric", b)
	}
	return nil
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLowerDigitDash(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
func isURLByte(c byte) bool { return c > ' ' && c < 0x7f }

// EncodeCommitmentInfo returns the SCALE encoding of Subtensor's
// CommitmentInfo{fields: BoundedVec<Data, 3>} holding fields as Data::Raw:
// compact(len) then, per field, the byte len+1 and the bytes.
func EncodeCommitmentInfo(fields [][]byte) ([]byte, error) {
	if len(fields) > MaxCommitmentFields {
		return nil, fmt.Errorf("%w: %d fields > %d", ErrBadCommitment, len(fields), MaxCommitmentFields)
	}
	out := []byte{byte(len(fields) << 2)} // SCALE compact, single-byte mode
	for i, f := range fields {
		if len(f) > MaxCommitmentField {
			return nil, fmt.Errorf("%w: field %d has %d bytes > %d", ErrBadCommitment, i, len(f), MaxCommitmentField)
		}
		out = append(out, byte(len(f)+1))
		out = append(out, f...)
	}
	return out, nil
}

// DecodeCommitmentInfo is the inverse of EncodeCommitmentInfo. Data variants
// other than Raw are rejected.
func DecodeCommitmentInfo(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[0]&3 != 0 {
		return nil, fmt.Errorf("%w: bad field count prefix", ErrBadCommitment)
	}
	n := int(b[0] >> 2)
	if n > MaxCommitmentFields {
		return nil, fmt.Errorf("%w: %d fields > %d", ErrBadCommitment, n, MaxCommitmentFields)
	}
	b = b[1:]
	fields := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		if len(b) == 0 {
			return nil, fmt.Errorf("%w: field %d truncated", ErrBadCommitment, i)
		}
		tag := int(b[0])
		if tag == 0 || tag > MaxCommitmentField+1 {
			return nil, fmt.Errorf("%w: field %d is Data variant %d, want Raw", ErrBadCommitment, i, tag)
		}
		l := tag - 1
		if len(b)-1 < l {
			return nil, fmt.Errorf("%w: field %d truncated", ErrBadCommitment, i)
		}
		fields = append(fields, append([]byte(nil), b[1:1+l]...))
		b = b[1+l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadCommitment, len(b))
	}
	return fields, nil
}

// CheckEndpoint applies the endpoint rule to a committed endpoint: an https
// URL with no user info, query or fragment, whose host is a public name or
// a public IP address. Loopback, private, link-local, CGNAT, unspecified and
// multicast addresses and local-only names ("localhost", "*.local",
// "*.internal", single-label names) are refused — a commitment must not make a
// validator request its own network. allowPrivate (a local-network option)
// lifts the address rule and allows plain http. The rule on the name is only
// half of it: a public name can resolve to a private address, so clients must
// also refuse, when dialling, every address PublicAddr rejects (storage/s3
// dials through internal/netguard for that).
func CheckEndpoint(raw string, allowPrivate bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEndpoint, err)
	}
	switch {
	case u.Scheme != "https" && !(allowPrivate && u.Scheme == "http"):
		return nil, fmt.Errorf("%w: scheme %q (want https)", ErrEndpoint, u.Scheme)
	case u.User != nil:
		return nil, fmt.Errorf("%w: user info in the URL", ErrEndpoint)
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("%w: query, fragment or opaque part in %q", ErrEndpoint, raw)
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("%w: path %q (want none)", ErrEndpoint, u.Path)
	case u.Hostname() == "":
		return nil, fmt.Errorf("%w: no host in %q", ErrEndpoint, raw)
	}
	if allowPrivate {
		return u, nil
	}
	host := strings.ToLower(u.Hostname())
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return nil, fmt.Errorf("%w: zoned address %s", ErrEndpoint, ip)
		}
		if !PublicAddr(ip) {
			return nil, fmt.Errorf("%w: %s is not a public address", ErrEndpoint, ip)
		}
		return u, nil
	}
	host = strings.TrimSuffix(host, ".")
	labels := strings.Split(host, ".")
	if tld := labels[len(labels)-1]; !validTLD(tld) {
		return nil, fmt.Errorf("%w: %q does not end in a DNS top-level domain", ErrEndpoint, host)
	}
	if len(labels) < 2 || host == "localhost" ||
		strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".lan") ||
		strings.HasSuffix(host, ".home.arpa") {
		return nil, fmt.Errorf("%w: %q is not a public host name", ErrEndpoint, host)
	}
	return u, nil
}

// refused lists the address ranges no committed endpoint may reach (SPEC.md
// §6): this host, private networks, shared and link-local space (the cloud
// metadata address), documentation and benchmark ranges, multicast,
// reserved space, and the IPv6 transition prefixes that embed IPv4 addresses.
var refused = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64", "2001::/32", "2001:db8::/32",
		"2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddr reports whether ip is outside every refused range of SPEC.md §6.
// An IPv4-mapped IPv6 address is judged as the IPv4 address it maps.
func PublicAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range refused {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// validTLD accepts what a public top-level domain looks like: 2 … 63
// letters, or an IDN label "xn--" followed by letters and digits. It refuses
// numeric forms ("2130706433", "0x7f") that resolvers read as addresses.
func validTLD(l string) bool {
	if len(l) < 2 || len(l) > 63 {
		return false
	}
	if rest, ok := strings.CutPrefix(l, "xn--"); ok {
		return rest != "" && allBytes(rest, func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' })
	}
	return allBytes(l, func(c byte) bool { return c >= 'a' && c <= 'z' })
}
