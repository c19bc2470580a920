package wallet

import (
	"bytes"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/nacl/secretbox"
)

// naclPrefix starts a keyfile encrypted the way btcli encrypts: "$NACL",
// then a 24-byte nonce, then the secretbox (XSalsa20-Poly1305) of the JSON.
const naclPrefix = "$NACL"

// naclSalt is btwallet's fixed Argon2 salt (keyfile.rs NACL_SALT).
var naclSalt = []byte("\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1")

// The key derivation btwallet uses: libsodium crypto_pwhash argon2i13 with
// OPSLIMIT_SENSITIVE (8 passes) and MEMLIMIT_SENSITIVE (512 MiB), one lane,
// a 32-byte key. Deriving a key takes half a GiB and seconds: by design.
const (
	argonTime    = 8
	argonMemory  = 512 * 1024 // KiB
	argonThreads = 1
)

// NACLKey is the secretbox key derived from a password. Deriving one takes
// seconds and 512 MiB, so a caller that handles several keyfiles under one
// password derives it once. It prints as "wallet.NACLKey{…}" under every
// fmt verb.
type NACLKey struct{ k [32]byte }

// DeriveNACLKey derives the key of a password as btcli does.
func DeriveNACLKey(password string) *NACLKey {
	var k NACLKey
	copy(k.k[:], argon2.Key([]byte(password), naclSalt, argonTime, argonMemory, argonThreads, 32))
	return &k
}

// Format hides the key.
func (NACLKey) Format(f fmt.State, verb rune) { io.WriteString(f, "wallet.NACLKey{…}") }

// Encrypt encrypts keyfile data as btcli does, with a nonce from rand (use
// crypto/rand.Reader).
func (k *NACLKey) Encrypt(data []byte, rand io.Reader) ([]byte, error) {
	var nonce [24]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("wallet: nonce: %w", err)
	}
	return sealNACL(data, &k.k, &nonce), nil
}

// Decrypt decrypts $NACL keyfile data: ErrWrongPassword when the key does
// not open it, ErrBadKeyfile when it is not $NACL data.
func (k *NACLKey) Decrypt(data []byte) ([]byte, error) { return openNACL(data, &k.k) }

// IsEncrypted reports whether keyfile data is encrypted by any method
// btcli has used ($NACL, and the legacy ansible-vault and fernet forms).
func IsEncrypted(data []byte) bool { return EncryptionMethod(data) != "" }

// EncryptionMethod names the encryption of keyfile data: "NaCl",
// "Ansible Vault", "legacy" (fernet), or "" for plain data.
func EncryptionMethod(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte(naclPrefix)):
		return "NaCl"
	case bytes.HasPrefix(data, []byte("$ANSIBLE_VAULT")):
		return "Ansible Vault"
	case bytes.HasPrefix(data, []byte("gAAAAA")):
		return "legacy"
	}
	return ""
}

// EncryptNACL encrypts keyfile data with a password as btcli does, with a
// nonce from rand (use crypto/rand.Reader).
func EncryptNACL(data []byte, password string, rand io.Reader) ([]byte, error) {
	return DeriveNACLKey(password).Encrypt(data, rand)
}

func sealNACL(data []byte, key *[32]byte, nonce *[24]byte) []byte {
	out := make([]byte, 0, len(naclPrefix)+24+secretbox.Overhead+len(data))
	out = append(append(out, naclPrefix...), nonce[:]...)
	return secretbox.Seal(out, data, nonce, key)
}

// DecryptNACL decrypts $NACL keyfile data. A wrong password (or altered
// data) gives ErrWrongPassword; data in another format ErrBadKeyfile.
func DecryptNACL(data []byte, password string) ([]byte, error) {
	if err := checkNACL(data); err != nil {
		return nil, err
	}
	return DeriveNACLKey(password).Decrypt(data)
}

func checkNACL(data []byte) error {
	if !bytes.HasPrefix(data, []byte(naclPrefix)) {
		if m := EncryptionMethod(data); m != "" {
			return fmt.Errorf("%w: %s encryption is not supported (re-encrypt the key with a current btcli)", ErrBadKeyfile, m)
		}
		return fmt.Errorf("%w: not $NACL-encrypted", ErrBadKeyfile)
	}
	if len(data) < len(naclPrefix)+24+secretbox.Overhead {
		return fmt.Errorf("%w: $NACL data of %d bytes is too short", ErrBadKeyfile, len(data))
	}
	return nil
}

func openNACL(data []byte, key *[32]byte) ([]byte, error) {
	if err := checkNACL(data); err != nil {
		return nil, err
	}
	var nonce [24]byte
	copy(nonce[:], data[len(naclPrefix):])
	out, ok := secretbox.Open(nil, data[len(naclPrefix)+24:], &nonce, key)
	if !ok {
		return nil, ErrWrongPassword
	}
	return out, nil
}
