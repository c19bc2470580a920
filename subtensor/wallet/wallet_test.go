package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/scale/scaletest"
)

// fixturePassword is the password of ../shared/fixtures/subtensor/nacl_fixture.hex.
const fixturePassword = "Password123"

// fixtureKey derives the key of fixturePassword once per test binary: one
// derivation takes 512 MiB and several seconds.
var fixtureKey = sync.OnceValue(func() *NACLKey { return DeriveNACLKey(fixturePassword) })

// detRand is a deterministic entropy source for tests.
type detRand struct{ r *rand.ChaCha8 }

func newDetRand(seed byte) *detRand { return &detRand{rand.NewChaCha8([32]byte{seed})} }
func (d *detRand) Read(p []byte) (int, error) {
	return d.r.Read(p)
}

const oldLeopard = "old leopard transfer rib spatial phone calm indicate online fire caution review"

func TestNACLFixture(t *testing.T) {
	data, err := hex.DecodeString(strings.TrimSpace(string(scaletest.Read(t, "nacl_fixture.hex"))))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte("$NACL")))
	assert.Equal(t, "NaCl", EncryptionMethod(data))

	plain, err := fixtureKey().Decrypt(data)
	require.NoError(t, err)
	k, err := ParseKeyfile(plain)
	require.NoError(t, err)
	assert.Equal(t, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", k.Public().String())
	assert.False(t, k.HasSecret())

	// Another key does not open it; altered data neither.
	other := *fixtureKey()
	other.k[0] ^= 1
	_, err = other.Decrypt(data)
	assert.ErrorIs(t, err, ErrWrongPassword)
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	_, err = fixtureKey().Decrypt(bad)
	assert.ErrorIs(t, err, ErrWrongPassword)
	_, err = fixtureKey().Decrypt(data[:30])
	assert.ErrorIs(t, err, ErrBadKeyfile)
	_, err = DecodeKeyfile(data, "")
	assert.ErrorIs(t, err, ErrEncrypted)

	// Re-sealing the plaintext with the fixture's nonce gives the fixture.
	var nonce [24]byte
	copy(nonce[:], data[5:29])
	assert.Equal(t, data, sealNACL(plain, &fixtureKey().k, &nonce))
}

func TestKeyfileVectors(t *testing.T) {
	// btwallet tests/test_keyfile.py.
	k, err := KeyfileFromMnemonic(oldLeopard)
	require.NoError(t, err)
	assert.Equal(t, "5HDvhV6WDCjCKyrXqGQSDYqQAzkzabNhctmiDYEqgBC66BsX", k.Public().String())
	seed, ok := k.Seed()
	require.True(t, ok)
	require.Len(t, seed, 32)
	priv, ok := k.PrivateKey()
	require.True(t, ok)
	// btwallet's own values for this mnemonic (tests/test_keyfile.py uses
	// them as the private key and seed of this account).
	assert.Equal(t, "da3cf5b1e9144931a0f0db65664aab662673b099415a7f8121b7245fb0be4143", hex.EncodeToString(seed))
	assert.Equal(t, "1f1995bdf3a17b60626a26cfe6f564b337d46056b7a1281b64c649d592ccda0a9cffd34d9fb01cae1fba61aeed184c817442a2186d5172416729a4b54dd4b84e", hex.EncodeToString(priv))
	// The 64-byte private key and the 32-byte seed are the same key.
	fromPriv, err := KeyfileFromSeed(priv)
	require.NoError(t, err)
	assert.Equal(t, k.Public(), fromPriv.Public())

	pk, _ := hex.DecodeString("1f1995bdf3a17b60626a26cfe6f564b337d46056b7a1281b64c649d592ccda0a9cffd34d9fb01cae1fba61aeed184c817442a2186d5172416729a4b54dd4b84e")
	k, err = KeyfileFromSeed(pk)
	require.NoError(t, err)
	assert.Equal(t, "e4359ad3e2716c539a1d663ebd0a51bdc5c98a12e663bb4c4402db47828c9446", hex.EncodeToString(k.public[:]))

	// btwallet tests/test_common_calls.py: the same account from the seed.
	s, _ := hex.DecodeString("023d5fbd7981676587a9f7232aeae1087ac7c265f9658fb643b6f5e61961dfbf")
	k, err = KeyfileFromSeed(s)
	require.NoError(t, err)
	kp, err := bistro.KeypairFromURI("0x023d5fbd7981676587a9f7232aeae1087ac7c265f9658fb643b6f5e61961dfbf")
	require.NoError(t, err)
	assert.Equal(t, kp.Hotkey(), k.Public())

	_, err = KeyfileFromMnemonic("not a mnemonic at all")
	assert.ErrorIs(t, err, ErrBadKeyfile)
	_, err = KeyfileFromSeed(make([]byte, 31))
	assert.ErrorIs(t, err, ErrBadKeyfile)
}

func TestMarshalLayout(t *testing.T) {
	k, err := KeyfileFromMnemonic(oldLeopard)
	require.NoError(t, err)
	var m map[string]string
	require.NoError(t, json.Unmarshal(k.Marshal(), &m))
	assert.Equal(t, []string{"accountId", "privateKey", "publicKey", "secretPhrase", "secretSeed", "ss58Address"}, sortedKeys(m))
	assert.Equal(t, oldLeopard, m["secretPhrase"])
	assert.Equal(t, m["accountId"], m["publicKey"])
	assert.Len(t, m["privateKey"], 2+128)
	assert.Len(t, m["secretSeed"], 2+64)
	assert.NotContains(t, string(k.Marshal()), `", "`, "compact JSON, as serde_json writes")
	assert.NotContains(t, string(k.Marshal()), `": "`, "compact JSON, as serde_json writes")

	pub := k.PublicOnly()
	require.NoError(t, json.Unmarshal(pub.Marshal(), &m))
	m = map[string]string{}
	require.NoError(t, json.Unmarshal(pub.Marshal(), &m))
	assert.Equal(t, []string{"accountId", "publicKey", "ss58Address"}, sortedKeys(m))

	back, err := ParseKeyfile(k.Marshal())
	require.NoError(t, err)
	assert.Equal(t, k.Marshal(), back.Marshal())
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// TestParseLegacyPython reads the layout the Python bittensor wallet wrote:
// spaced JSON with null fields.
func TestParseLegacyPython(t *testing.T) {
	k, err := KeyfileFromMnemonic(oldLeopard)
	require.NoError(t, err)
	priv, _ := k.PrivateKey()
	seed, _ := k.Seed()
	pub := k.Public()
	legacy := fmt.Sprintf(`{"accountId": "0x%x", "publicKey": "0x%x", "privateKey": "0x%x", "secretPhrase": null, "secretSeed": "0x%x", "ss58Address": "%s"}`,
		pub[:], pub[:], priv, seed, pub)
	got, err := ParseKeyfile([]byte(legacy))
	require.NoError(t, err)
	assert.Equal(t, pub, got.Public())
	_, hasPhrase := got.Mnemonic()
	assert.False(t, hasPhrase)

	// Only the private key (as btwallet's create_from_private_key writes).
	got, err = ParseKeyfile([]byte(fmt.Sprintf(`{"privateKey":"0x%x"}`, priv)))
	require.NoError(t, err)
	assert.Equal(t, pub, got.Public())
	s, err := got.Signer()
	require.NoError(t, err)
	sig, err := s.Sign([]byte("m"))
	require.NoError(t, err)
	assert.True(t, bistro.Verify(pub, []byte("m"), sig))

	for name, bad := range map[string]string{
		"not json":       "hello",
		"array":          "[]",
		"number":         `{"secretSeed": 5}`,
		"empty":          `{}`,
		"short private":  `{"privateKey":"0x1234"}`,
		"bad seed":       `{"secretSeed":"0xzz"}`,
		"wrong address":  fmt.Sprintf(`{"secretSeed":"0x%x","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}`, seed),
		"wrong pub":      fmt.Sprintf(`{"secretSeed":"0x%x","publicKey":"0x%x"}`, seed, make([]byte, 32)),
		"bad ss58":       `{"ss58Address":"5Grw"}`,
		"bad mnemonic":   `{"secretPhrase":"abandon abandon"}`,
		"ansible":        "$ANSIBLE_VAULT;1.1;AES256\n3132",
		"legacy fernet":  "gAAAAABk",
		"public not hex": `{"publicKey":"0xnothex"}`,
	} {
		_, err := ParseKeyfile([]byte(bad))
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, ErrBadKeyfile) || errors.Is(err, ErrEncrypted), "%s: %v", name, err)
	}
}

func TestWalletRoundTrip(t *testing.T) {
	root := t.TempDir()
	w := New(root, "miner")
	hot, err := GenerateKeyfile(newDetRand(1), 12)
	require.NoError(t, err)
	phrase, _ := hot.Mnemonic()
	assert.Len(t, strings.Fields(phrase), 12)
	cold, err := GenerateKeyfile(newDetRand(2), 24)
	require.NoError(t, err)

	require.NoError(t, w.WriteHotkey("default", hot, WriteOptions{}))
	require.NoError(t, w.WriteColdkey(cold, WriteOptions{Key: fixtureKey(), Rand: newDetRand(3)}))

	for _, p := range []string{w.HotkeyPath("default"), w.HotkeyPubPath("default"), w.ColdkeyPath(), w.ColdkeyPubPath()} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), p)
	}
	b, err := os.ReadFile(w.HotkeyPath("default"))
	require.NoError(t, err)
	assert.Equal(t, hot.Marshal(), b, "the hotkey file is the keyfile JSON")
	b, err = os.ReadFile(w.ColdkeyPubPath())
	require.NoError(t, err)
	assert.Equal(t, cold.PublicOnly().Marshal(), b)
	b, err = os.ReadFile(w.ColdkeyPath())
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("$NACL")))
	assert.NotContains(t, string(b), cold.Public().String())

	s, err := w.Hotkey("default")
	require.NoError(t, err)
	assert.Equal(t, hot.Public(), s.Hotkey())
	sig, err := s.Sign([]byte("window 7"))
	require.NoError(t, err)
	assert.True(t, bistro.Verify(hot.Public(), []byte("window 7"), sig))

	pub, err := w.HotkeyPub("default")
	require.NoError(t, err)
	assert.Equal(t, hot.Public(), pub)
	pub, err = w.ColdkeyPub()
	require.NoError(t, err)
	assert.Equal(t, cold.Public(), pub)

	cs, err := w.ColdkeyWithKey(fixtureKey())
	require.NoError(t, err)
	assert.Equal(t, cold.Public(), cs.Hotkey())
	_, err = ReadKeyfile(w.ColdkeyPath(), "")
	assert.ErrorIs(t, err, ErrEncrypted)
	other := *fixtureKey()
	other.k[5] ^= 1
	_, err = w.ColdkeyWithKey(&other)
	assert.ErrorIs(t, err, ErrWrongPassword)

	// No silent overwrite.
	assert.ErrorIs(t, w.WriteHotkey("default", cold, WriteOptions{}), ErrExists)
	require.NoError(t, w.WriteHotkey("default", cold, WriteOptions{Overwrite: true}))
	s, err = w.Hotkey("default")
	require.NoError(t, err)
	assert.Equal(t, cold.Public(), s.Hotkey())

	// A hotkey encrypted with a password needs it.
	require.NoError(t, w.WriteHotkey("locked", hot, WriteOptions{Key: fixtureKey()}))
	_, err = w.Hotkey("locked")
	assert.ErrorIs(t, err, ErrEncrypted)
	pub, err = w.HotkeyPub("locked")
	require.NoError(t, err, "the pub file is plain")
	assert.Equal(t, hot.Public(), pub)

	_, err = w.Hotkey("missing")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Error(t, w.WriteHotkey("../escape", hot, WriteOptions{}))
	assert.ErrorIs(t, w.WriteHotkey("pubonly", hot.PublicOnly(), WriteOptions{}), ErrNoSecret)
	_, err = hot.PublicOnly().Signer()
	assert.ErrorIs(t, err, ErrNoSecret)

	// The layout is btcli's.
	for _, p := range []string{"miner/coldkey", "miner/coldkeypub.txt", "miner/hotkeys/default", "miner/hotkeys/defaultpub.txt"} {
		_, err := os.Stat(filepath.Join(root, p))
		assert.NoError(t, err, p)
	}
	left, err := filepath.Glob(filepath.Join(root, "miner", "hotkeys", ".*tmp*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary files left")
}

// TestSecretsNeverPrinted formats every wallet type, and the errors the
// package returns, with every verb, and looks for the secrets.
func TestSecretsNeverPrinted(t *testing.T) {
	const password = "hunter2-Password"
	k, err := KeyfileFromMnemonic(oldLeopard)
	require.NoError(t, err)
	seed, _ := k.Seed()
	priv, _ := k.PrivateKey()
	secrets := []string{
		oldLeopard, "leopard transfer", password,
		hex.EncodeToString(seed), strings.ToUpper(hex.EncodeToString(seed)),
		hex.EncodeToString(priv), strings.ToUpper(hex.EncodeToString(priv)),
		hex.EncodeToString(priv[:16]), hex.EncodeToString(seed[:16]),
		fmt.Sprint(seed[:8])[1:20], fmt.Sprint(priv[:8])[1:20],
		hex.EncodeToString(fixtureKey().k[:8]),
	}
	s, err := k.Signer()
	require.NoError(t, err)

	root := t.TempDir()
	w := New(root, "w")
	require.NoError(t, w.WriteHotkey("h", k, WriteOptions{}))
	require.NoError(t, os.WriteFile(filepath.Join(root, "w", "hotkeys", "bad"),
		[]byte(fmt.Sprintf(`{"secretSeed":"0x%x","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}`, seed)), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "w", "hotkeys", "badphrase"),
		[]byte(`{"secretPhrase":"`+oldLeopard+` extra"}`), 0o600))
	var errs []error
	_, err = w.Hotkey("bad")
	errs = append(errs, err)
	_, err = w.Hotkey("badphrase")
	errs = append(errs, err)
	_, err = ParseKeyfile([]byte(`{"secretPhrase":"` + oldLeopard + ` x"}`))
	errs = append(errs, err)
	_, err = ParseKeyfile([]byte(oldLeopard))
	errs = append(errs, err)
	other := *fixtureKey()
	other.k[0] ^= 1
	enc, err := fixtureKey().Encrypt(k.Marshal(), newDetRand(9))
	require.NoError(t, err)
	_, err = other.Decrypt(enc)
	errs = append(errs, err)
	for _, e := range errs {
		require.Error(t, e)
	}

	kv := *k
	values := []any{k, kv, &kv, s, fixtureKey(), *fixtureKey(), w, []any{k, s}, map[string]any{"k": k}, struct{ K *Keyfile }{k}}
	for _, e := range errs {
		values = append(values, e)
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, sec := range secrets {
				assert.NotContains(t, out, sec, "%s of %T", verb, v)
			}
		}
	}
	js, err := json.Marshal(k)
	require.NoError(t, err)
	assert.Equal(t, "{}", string(js))
	assert.Contains(t, fmt.Sprint(k), k.Public().String(), "the address is printed")
}
