package wallet

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/cosmos/go-bip39"
	"github.com/vedhavyas/go-subkey/v2/sr25519"

	"github.com/bistro-go/bistro"
)

// Keyfile is the content of a btcli keyfile: a public key, and for a
// secret key its private key, and the mini-secret seed and mnemonic it came
// from when known. Formatting a Keyfile with any verb prints its SS58
// address only; the secrets are read through the methods that name them.
type Keyfile struct {
	public     bistro.Hotkey
	privateKey []byte // schnorrkel secret: key(32) ‖ nonce(32); nil for a public keyfile
	seed       []byte // 32-byte mini-secret, nil when unknown
	phrase     string // BIP-39 mnemonic, empty when unknown
}

// Public returns the public key (the account id).
func (k *Keyfile) Public() bistro.Hotkey { return k.public }

// HasSecret reports whether the keyfile holds a private key.
func (k *Keyfile) HasSecret() bool { return k.privateKey != nil }

// Mnemonic returns the secret phrase, when the keyfile has one.
func (k *Keyfile) Mnemonic() (string, bool) { return k.phrase, k.phrase != "" }

// Seed returns a copy of the 32-byte mini-secret, when the keyfile has one.
func (k *Keyfile) Seed() ([]byte, bool) { return bytes.Clone(k.seed), k.seed != nil }

// PrivateKey returns a copy of the 64-byte schnorrkel secret key (key ‖
// nonce), when the keyfile has one.
func (k *Keyfile) PrivateKey() ([]byte, bool) { return bytes.Clone(k.privateKey), k.privateKey != nil }

// PublicOnly returns the public part, as coldkeypub.txt holds it.
func (k *Keyfile) PublicOnly() *Keyfile { return &Keyfile{public: k.public} }

// Signer returns the key as a bistro.Signer, built as btcli builds it: from
// the mnemonic when there is one, else from the seed, else from the
// private key. A public keyfile gives ErrNoSecret.
func (k *Keyfile) Signer() (bistro.Signer, error) {
	var kp *bistro.Keypair
	var err error
	switch {
	case k.phrase != "":
		kp, err = bistro.KeypairFromURI(k.phrase)
	case k.seed != nil:
		kp, err = bistro.KeypairFromSeed(k.seed)
	case k.privateKey != nil:
		kp, err = bistro.KeypairFromSeed(k.privateKey)
	default:
		return nil, fmt.Errorf("%w: %s", ErrNoSecret, k.public)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: the secret does not give a key", ErrBadKeyfile, k.public)
	}
	if kp.Hotkey() != k.public {
		return nil, fmt.Errorf("%w: the secret belongs to %s, not %s", ErrBadKeyfile, kp.Hotkey(), k.public)
	}
	return &signer{kp: kp}, nil
}

// Format prints the SS58 address whatever the verb, so that no secret
// reaches a log line or an error through fmt.
func (k Keyfile) Format(f fmt.State, verb rune) {
	kind := "public"
	if k.privateKey != nil {
		kind = "secret"
	}
	fmt.Fprintf(f, "wallet.Keyfile{%s %s}", kind, k.public)
}

// signer is the bistro.Signer a keyfile gives: a bistro.Keypair that
// prints as its SS58 address under every fmt verb.
type signer struct{ kp *bistro.Keypair }

var _ bistro.Signer = (*signer)(nil)

func (s *signer) Hotkey() bistro.Hotkey           { return s.kp.Hotkey() }
func (s *signer) Sign(msg []byte) ([]byte, error) { return s.kp.Sign(msg) }
func (s *signer) String() string                  { return s.kp.Hotkey().String() }
func (s *signer) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "wallet.Signer{%s}", s.kp.Hotkey())
}

// KeyfileFromMnemonic derives a keyfile from a BIP-39 mnemonic as btcli
// does (Substrate's mini-secret from the entropy, no password).
func KeyfileFromMnemonic(phrase string) (*Keyfile, error) {
	phrase = strings.Join(strings.Fields(phrase), " ")
	kp, err := sr25519.Scheme{}.FromPhrase(phrase, "")
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid BIP-39 mnemonic", ErrBadKeyfile)
	}
	k, err := KeyfileFromSeed(kp.Seed())
	if err != nil {
		return nil, err
	}
	k.phrase = phrase
	return k, nil
}

// KeyfileFromSeed builds a keyfile from a 32-byte mini-secret or a 64-byte
// schnorrkel secret key (key ‖ nonce), the two forms btcli accepts.
func KeyfileFromSeed(seed []byte) (*Keyfile, error) {
	k := &Keyfile{}
	switch len(seed) {
	case 32:
		k.seed = bytes.Clone(seed)
		k.privateKey = expandMiniSecret(seed)
	case 64:
		k.privateKey = bytes.Clone(seed)
	default:
		return nil, fmt.Errorf("%w: seed of %d bytes (want 32 or 64)", ErrBadKeyfile, len(seed))
	}
	kp, err := bistro.KeypairFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: the seed does not give a key", ErrBadKeyfile)
	}
	k.public = kp.Hotkey()
	return k, nil
}

// KeyfileFromPublic is a public keyfile (coldkeypub.txt) for an account.
func KeyfileFromPublic(pub bistro.Hotkey) *Keyfile { return &Keyfile{public: pub} }

// GenerateKeyfile makes a new key with a mnemonic of words words (12, 15,
// 18, 21 or 24; btcli's default is 12) from the entropy of rand (use
// crypto/rand.Reader).
func GenerateKeyfile(rand io.Reader, words int) (*Keyfile, error) {
	if words < 12 || words > 24 || words%3 != 0 {
		return nil, fmt.Errorf("wallet: mnemonic of %d words (want 12, 15, 18, 21 or 24)", words)
	}
	entropy := make([]byte, words*4/3)
	if _, err := io.ReadFull(rand, entropy); err != nil {
		return nil, fmt.Errorf("wallet: entropy: %w", err)
	}
	phrase, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return nil, fmt.Errorf("wallet: mnemonic: %w", err)
	}
	return KeyfileFromMnemonic(phrase)
}

// expandMiniSecret is schnorrkel's MiniSecretKey::expand(ExpandEd25519) in
// the SecretKey::to_bytes form btcli stores as privateKey: SHA-512 of the
// mini-secret, the first half clamped as an ed25519 scalar and divided by
// the cofactor 8, the second half the nonce.
func expandMiniSecret(mini []byte) []byte {
	h := sha512.Sum512(mini)
	key := h[:32]
	key[0] &= 248
	key[31] &= 63
	key[31] |= 64
	var carry byte
	for i := 31; i >= 0; i-- {
		r := key[i] & 7
		key[i] = key[i]>>3 | carry
		carry = r << 5
	}
	return append(bytes.Clone(key), h[32:]...)
}

// Marshal encodes the keyfile as btwallet (btcli) writes it: compact JSON
// with accountId, publicKey, privateKey, secretPhrase, secretSeed and
// ss58Address, each present only when known, keys 0x-prefixed lowercase
// hex.
func (k *Keyfile) Marshal() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(name, value string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		n, _ := json.Marshal(name)
		v, _ := json.Marshal(value)
		b.Write(n)
		b.WriteByte(':')
		b.Write(v)
	}
	pub := "0x" + hex.EncodeToString(k.public[:])
	field("accountId", pub)
	field("publicKey", pub)
	if k.privateKey != nil {
		field("privateKey", "0x"+hex.EncodeToString(k.privateKey))
	}
	if k.phrase != "" {
		field("secretPhrase", k.phrase)
	}
	if k.seed != nil {
		field("secretSeed", "0x"+hex.EncodeToString(k.seed))
	}
	field("ss58Address", k.public.String())
	b.WriteByte('}')
	return b.Bytes()
}

// ParseKeyfile decodes the JSON of a plain (not encrypted) keyfile, as
// btwallet does: a JSON object of strings or nulls; the key comes from
// secretPhrase, else secretSeed, else privateKey, else ss58Address (a
// public keyfile). Unlike btwallet it checks that the public fields agree
// with the secret. Errors never quote the content.
func ParseKeyfile(data []byte) (*Keyfile, error) {
	if IsEncrypted(data) {
		return nil, fmt.Errorf("%w: the keyfile is encrypted (%s)", ErrEncrypted, EncryptionMethod(data))
	}
	var m map[string]*string
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: not a JSON object of strings", ErrBadKeyfile)
	}
	get := func(name string) string {
		if v := m[name]; v != nil {
			return *v
		}
		return ""
	}
	var k *Keyfile
	var err error
	switch {
	case get("secretPhrase") != "":
		k, err = KeyfileFromMnemonic(get("secretPhrase"))
	case get("secretSeed") != "":
		seed, herr := decodeHex(get("secretSeed"))
		if herr != nil {
			return nil, fmt.Errorf("%w: secretSeed is not hex", ErrBadKeyfile)
		}
		k, err = KeyfileFromSeed(seed)
	case get("privateKey") != "":
		pk, herr := decodeHex(get("privateKey"))
		if herr != nil || len(pk) != 64 {
			return nil, fmt.Errorf("%w: privateKey is not 64 bytes of hex", ErrBadKeyfile)
		}
		k, err = KeyfileFromSeed(pk)
	case get("ss58Address") != "":
		pub, perr := bistro.ParseHotkey(get("ss58Address"))
		if perr != nil {
			return nil, fmt.Errorf("%w: ss58Address: %v", ErrBadKeyfile, perr)
		}
		k = KeyfileFromPublic(pub)
	case get("publicKey") != "" || get("accountId") != "":
		s := get("publicKey")
		if s == "" {
			s = get("accountId")
		}
		pub, herr := decodeHex(s)
		if herr != nil || len(pub) != 32 {
			return nil, fmt.Errorf("%w: publicKey is not 32 bytes of hex", ErrBadKeyfile)
		}
		k = KeyfileFromPublic(bistro.Hotkey(pub))
	default:
		return nil, fmt.Errorf("%w: no key in the keyfile", ErrBadKeyfile)
	}
	if err != nil {
		return nil, err
	}
	// The public fields, when present, must name the same account.
	for _, name := range []string{"accountId", "publicKey"} {
		if s := get(name); s != "" {
			pub, herr := decodeHex(s)
			if herr != nil || !bytes.Equal(pub, k.public[:]) {
				return nil, fmt.Errorf("%w: %s does not match the key (%s)", ErrBadKeyfile, name, k.public)
			}
		}
	}
	if s := get("ss58Address"); s != "" {
		pub, perr := bistro.ParseHotkey(s)
		if perr != nil || pub != k.public {
			return nil, fmt.Errorf("%w: ss58Address does not match the key (%s)", ErrBadKeyfile, k.public)
		}
	}
	return k, nil
}

func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(s, "0x"))
}
