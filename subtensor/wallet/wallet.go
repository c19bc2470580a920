package wallet

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bistro-go/bistro"
)

// Errors of the wallet package, matched with errors.Is. None of them, nor
// any error this package returns, carries a secret or a password.
var (
	// ErrNotFound: the keyfile does not exist.
	ErrNotFound = errors.New("wallet: keyfile not found")
	// ErrEncrypted: the keyfile is encrypted and no password was given.
	ErrEncrypted = errors.New("wallet: keyfile is encrypted")
	// ErrWrongPassword: decryption failed (wrong password or altered file).
	ErrWrongPassword = errors.New("wallet: wrong password or corrupted keyfile")
	// ErrBadKeyfile: the keyfile is not what btcli writes.
	ErrBadKeyfile = errors.New("wallet: bad keyfile")
	// ErrNoSecret: a public keyfile where a secret key was needed.
	ErrNoSecret = errors.New("wallet: keyfile holds no secret key")
	// ErrExists: writing would overwrite a keyfile.
	ErrExists = errors.New("wallet: keyfile exists")
)

// DefaultRoot returns btcli's wallet root, ~/.bittensor/wallets.
func DefaultRoot() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("wallet: home directory: %w", err)
	}
	return filepath.Join(home, ".bittensor", "wallets"), nil
}

// Wallet is a btcli wallet folder, <root>/<name>:
//
//	coldkey                 the coldkey, $NACL-encrypted with a password
//	coldkeypub.txt          its public part
//	hotkeys/<hotkey>        a hotkey, usually not encrypted
//	hotkeys/<hotkey>pub.txt its public part (btwallet 3 and later)
//
// Mining and validating need the hotkey only. A Wallet is a path: it is
// safe for concurrent use and holds no secret.
type Wallet struct {
	// Path is the wallet folder.
	Path string
}

// New returns the wallet name under root (DefaultRoot for btcli's).
func New(root, name string) Wallet { return Wallet{Path: filepath.Join(root, name)} }

// ColdkeyPath is where btcli keeps the coldkey.
func (w Wallet) ColdkeyPath() string { return filepath.Join(w.Path, "coldkey") }

// ColdkeyPubPath is where btcli keeps the coldkey's public part.
func (w Wallet) ColdkeyPubPath() string { return filepath.Join(w.Path, "coldkeypub.txt") }

// HotkeyPath is where btcli keeps a hotkey.
func (w Wallet) HotkeyPath(hotkey string) string {
	return filepath.Join(w.Path, "hotkeys", hotkey)
}

// HotkeyPubPath is where btcli keeps a hotkey's public part.
func (w Wallet) HotkeyPubPath(hotkey string) string {
	return filepath.Join(w.Path, "hotkeys", hotkey+"pub.txt")
}

// Hotkey loads a hotkey that is not encrypted (btcli's default) and returns
// it as a bistro.Signer. An encrypted one gives ErrEncrypted.
func (w Wallet) Hotkey(hotkey string) (bistro.Signer, error) {
	return w.signer(w.HotkeyPath(hotkey), "", false)
}

// HotkeyWithPassword loads a hotkey encrypted with a password.
func (w Wallet) HotkeyWithPassword(hotkey, password string) (bistro.Signer, error) {
	return w.signer(w.HotkeyPath(hotkey), password, true)
}

// Coldkey loads the coldkey, decrypting it with password when it is
// encrypted.
func (w Wallet) Coldkey(password string) (bistro.Signer, error) {
	return w.signer(w.ColdkeyPath(), password, true)
}

// ColdkeyWithKey loads the coldkey, decrypting it with a key derived once
// (DeriveNACLKey) when it is encrypted.
func (w Wallet) ColdkeyWithKey(key *NACLKey) (bistro.Signer, error) {
	k, err := ReadKeyfileWithKey(w.ColdkeyPath(), key)
	if err != nil {
		return nil, err
	}
	s, err := k.Signer()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.ColdkeyPath(), err)
	}
	return s, nil
}

// HotkeyPub returns a hotkey's public key: from hotkeys/<hotkey>pub.txt,
// or from the hotkey file itself when that is absent and not encrypted.
func (w Wallet) HotkeyPub(hotkey string) (bistro.Hotkey, error) {
	k, err := ReadKeyfile(w.HotkeyPubPath(hotkey), "")
	if errors.Is(err, ErrNotFound) {
		k, err = ReadKeyfile(w.HotkeyPath(hotkey), "")
	}
	if err != nil {
		return bistro.Hotkey{}, err
	}
	return k.Public(), nil
}

// ColdkeyPub returns the coldkey's public key from coldkeypub.txt.
func (w Wallet) ColdkeyPub() (bistro.Hotkey, error) {
	k, err := ReadKeyfile(w.ColdkeyPubPath(), "")
	if err != nil {
		return bistro.Hotkey{}, err
	}
	return k.Public(), nil
}

func (w Wallet) signer(path, password string, usePassword bool) (bistro.Signer, error) {
	if !usePassword {
		password = ""
	}
	k, err := ReadKeyfile(path, password)
	if err != nil {
		return nil, err
	}
	s, err := k.Signer()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ReadKeyfile reads a keyfile, decrypting it with password when it is
// $NACL-encrypted. An encrypted keyfile and an empty password give
// ErrEncrypted.
func ReadKeyfile(path, password string) (*Keyfile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("wallet: read %s: %w", path, err)
	}
	k, err := DecodeKeyfile(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadKeyfileWithKey reads a keyfile, decrypting it with a key derived
// once (DeriveNACLKey) when it is $NACL-encrypted.
func ReadKeyfileWithKey(path string, key *NACLKey) (*Keyfile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("wallet: read %s: %w", path, err)
	}
	k, err := decodeKeyfile(data, func() *NACLKey { return key })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// DecodeKeyfile decodes keyfile data, decrypting $NACL data with password.
func DecodeKeyfile(data []byte, password string) (*Keyfile, error) {
	if password == "" {
		return decodeKeyfile(data, nil)
	}
	return decodeKeyfile(data, func() *NACLKey { return DeriveNACLKey(password) })
}

// decodeKeyfile decrypts with the key from key (called only for encrypted
// data; nil: no password given) and parses.
func decodeKeyfile(data []byte, key func() *NACLKey) (*Keyfile, error) {
	if IsEncrypted(data) {
		if key == nil {
			return nil, fmt.Errorf("%w (%s): a password is needed", ErrEncrypted, EncryptionMethod(data))
		}
		if err := checkNACL(data); err != nil {
			return nil, err
		}
		k := key()
		if k == nil {
			return nil, fmt.Errorf("%w (%s): a password is needed", ErrEncrypted, EncryptionMethod(data))
		}
		plain, err := k.Decrypt(data)
		if err != nil {
			return nil, err
		}
		data = plain
	}
	return ParseKeyfile(data)
}

// WriteOptions say how a keyfile is written.
type WriteOptions struct {
	// Password encrypts the keyfile ($NACL) when not empty.
	Password string
	// Key, when set, encrypts the keyfile with a key derived once
	// (DeriveNACLKey) instead of Password.
	Key *NACLKey
	// Overwrite allows replacing an existing keyfile; without it writing
	// over one gives ErrExists.
	Overwrite bool
	// Rand is the source of the encryption nonce (crypto/rand.Reader when
	// nil).
	Rand io.Reader
}

// WriteHotkey writes hotkeys/<hotkey> and hotkeys/<hotkey>pub.txt as btcli
// does.
func (w Wallet) WriteHotkey(hotkey string, k *Keyfile, opts WriteOptions) error {
	if err := validName(hotkey); err != nil {
		return err
	}
	if !k.HasSecret() {
		return fmt.Errorf("%w: hotkey %s", ErrNoSecret, hotkey)
	}
	if err := writeKeyfile(w.HotkeyPath(hotkey), k, opts); err != nil {
		return err
	}
	return writeKeyfile(w.HotkeyPubPath(hotkey), k.PublicOnly(), WriteOptions{Overwrite: opts.Overwrite})
}

// WriteColdkey writes coldkey, encrypted when opts.Password is set (btcli
// asks for one), and coldkeypub.txt.
func (w Wallet) WriteColdkey(k *Keyfile, opts WriteOptions) error {
	if !k.HasSecret() {
		return fmt.Errorf("%w: coldkey", ErrNoSecret)
	}
	if err := writeKeyfile(w.ColdkeyPath(), k, opts); err != nil {
		return err
	}
	return writeKeyfile(w.ColdkeyPubPath(), k.PublicOnly(), WriteOptions{Overwrite: opts.Overwrite})
}

// WriteColdkeyPub writes coldkeypub.txt alone (a watch-only wallet).
func (w Wallet) WriteColdkeyPub(pub bistro.Hotkey, overwrite bool) error {
	return writeKeyfile(w.ColdkeyPubPath(), KeyfileFromPublic(pub), WriteOptions{Overwrite: overwrite})
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("wallet: hotkey name %q", name)
	}
	return nil
}

// writeKeyfile writes the file with mode 0600 (btwallet's), through a
// temporary file renamed into place, so a crash leaves the old file or the
// new one. Folders are made with mode 0700.
func writeKeyfile(path string, k *Keyfile, opts WriteOptions) error {
	data := k.Marshal()
	key := opts.Key
	if key == nil && opts.Password != "" {
		key = DeriveNACLKey(opts.Password)
	}
	if key != nil {
		r := opts.Rand
		if r == nil {
			r = cryptoRand
		}
		var err error
		if data, err = key.Encrypt(data, r); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	if !opts.Overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("wallet: write %s: %w", path, err)
	}
	if !opts.Overwrite {
		// Link fails if path appeared meanwhile; rename would replace it.
		if err := os.Link(tmp.Name(), path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: %s", ErrExists, path)
			}
			return fmt.Errorf("wallet: %w", err)
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	return nil
}
