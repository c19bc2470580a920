package bistro

import (
	"fmt"

	subkey "github.com/vedhavyas/go-subkey/v2"
	"github.com/vedhavyas/go-subkey/v2/sr25519"
)

// Keypair is an sr25519 Signer held in memory.
type Keypair struct {
	kp     subkey.KeyPair
	hotkey Hotkey
}

var _ Signer = (*Keypair)(nil)

// KeypairFromURI derives a keypair from a secret URI as subkey and btcli do:
// a mnemonic, a 0x-prefixed 32-byte seed, or a dev path such as "//Alice".
// The error never contains the URI.
func KeypairFromURI(uri string) (*Keypair, error) {
	kp, err := subkey.DeriveKeyPair(sr25519.Scheme{}, uri)
	if err != nil {
		return nil, fmt.Errorf("bistro: derive sr25519 keypair: bad secret URI")
	}
	return newKeypair(kp)
}

// KeypairFromSeed builds a keypair from a 32-byte mini-secret or a 64-byte
// expanded secret (key ‖ nonce), the two forms btcli wallet files store.
func KeypairFromSeed(seed []byte) (*Keypair, error) {
	kp, err := sr25519.Scheme{}.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("bistro: sr25519 keypair from %d-byte seed: invalid", len(seed))
	}
	return newKeypair(kp)
}

func newKeypair(kp subkey.KeyPair) (*Keypair, error) {
	k := &Keypair{kp: kp}
	pub := kp.Public()
	if len(pub) != len(k.hotkey) {
		return nil, fmt.Errorf("bistro: sr25519 public key of %d bytes", len(pub))
	}
	copy(k.hotkey[:], pub)
	return k, nil
}

// Hotkey returns the public key.
func (k *Keypair) Hotkey() Hotkey { return k.hotkey }

// Sign signs msg with the Substrate signing context.
func (k *Keypair) Sign(msg []byte) ([]byte, error) { return k.kp.Sign(msg) }

// String returns the SS58 address only; the secret is never printed.
func (k *Keypair) String() string { return k.hotkey.String() }

// Verify reports whether sig is a valid sr25519 signature of msg by hotkey.
func Verify(hotkey Hotkey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	pub, err := sr25519.Scheme{}.FromPublicKey(hotkey[:])
	if err != nil {
		return false
	}
	return pub.Verify(msg, sig)
}
