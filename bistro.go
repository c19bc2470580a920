package bistro

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	subkey "github.com/vedhavyas/go-subkey/v2"
)

// ProtocolVersion is the version of the protocol this package speaks. It is the
// first field of every Params and the version key of set_weights.
const ProtocolVersion = 1

// Block is a chain block number.
type Block uint64

// UID is a neuron's slot on a subnet.
type UID uint16

// Hash is a SHA-256 digest. Every digest of the protocol is a Hash.
type Hash [32]byte

// String returns the digest as lowercase hex without a prefix.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (an unset digest).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes the digest as hex, so JSON carries it as a string.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 64 hex digits, with or without a 0x prefix.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash decodes 64 hex digits, with or without a 0x prefix.
func ParseHash(s string) (Hash, error) {
	s = strings.TrimPrefix(s, "0x")
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("bistro: hash %q: want 64 hex digits, got %d", s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("bistro: hash %q: %w", s, err)
	}
	return h, nil
}

// Hotkey is the 32-byte sr25519 public key (the AccountId) of a miner or
// validator.
type Hotkey [32]byte

// SS58Prefix is the address format Bittensor uses (the generic Substrate one).
const SS58Prefix = 42

// String returns the SS58 address (prefix 42).
func (k Hotkey) String() string { return subkey.SS58Encode(k[:], SS58Prefix) }

// MarshalText encodes the hotkey as its SS58 address.
func (k Hotkey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes an SS58 address.
func (k *Hotkey) UnmarshalText(b []byte) error {
	h, err := ParseHotkey(string(b))
	if err != nil {
		return err
	}
	*k = h
	return nil
}

// ParseHotkey decodes an SS58 address (any network prefix; the checksum is
// verified).
func ParseHotkey(ss58 string) (Hotkey, error) {
	var k Hotkey
	_, pub, err := subkey.SS58Decode(ss58)
	if err != nil {
		return k, fmt.Errorf("bistro: hotkey %q: %w", ss58, err)
	}
	if len(pub) != len(k) {
		return k, fmt.Errorf("bistro: hotkey %q: %d-byte account id, want 32", ss58, len(pub))
	}
	copy(k[:], pub)
	return k, nil
}

// ErrBadSignature is returned when a signature does not verify under the
// hotkey that claims it.
var ErrBadSignature = errors.New("bistro: bad signature")

// Signer signs protocol messages with a hotkey. Signatures are sr25519 over
// the Substrate signing context; they are randomized, so signing the same
// message twice gives different bytes that both verify. Implementations must
// be safe for concurrent use and must never expose the secret in errors.
type Signer interface {
	Hotkey() Hotkey
	Sign(msg []byte) ([]byte, error)
}

// hasher builds the protocol's hashes: H(domain, fields) = SHA-256(len(domain)
// as one byte ‖ domain ‖ fields), every field in the fixed little-endian
// encoding of SPEC.md §1.
type hasher struct{ b []byte }

func newHasher(domain string) *hasher {
	h := &hasher{b: make([]byte, 0, 128)}
	h.b = append(h.b, byte(len(domain)))
	h.b = append(h.b, domain...)
	return h
}

func (h *hasher) u8(v uint8)    { h.b = append(h.b, v) }
func (h *hasher) u16(v uint16)  { h.b = binary.LittleEndian.AppendUint16(h.b, v) }
func (h *hasher) u32(v uint32)  { h.b = binary.LittleEndian.AppendUint32(h.b, v) }
func (h *hasher) u64(v uint64)  { h.b = binary.LittleEndian.AppendUint64(h.b, v) }
func (h *hasher) f64(v float64) { h.u64(math.Float64bits(v)) }
func (h *hasher) raw(b []byte)  { h.b = append(h.b, b...) }
func (h *hasher) str(s string) {
	h.u32(uint32(len(s)))
	h.b = append(h.b, s...)
}
func (h *hasher) sum() Hash { return sha256.Sum256(h.b) }
