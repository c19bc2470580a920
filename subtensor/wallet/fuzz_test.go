package wallet

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseKeyfile: reading arbitrary bytes as a keyfile never panics;
// what parses writes back to a keyfile that parses to the same key.
func FuzzParseKeyfile(f *testing.F) {
	k, err := KeyfileFromMnemonic(oldLeopard)
	require.NoError(f, err)
	f.Add(k.Marshal())
	f.Add(k.PublicOnly().Marshal())
	f.Add([]byte(`{"accountId": "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "privateKey": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyfile(b)
		if err != nil {
			return
		}
		back, err := ParseKeyfile(k.Marshal())
		require.NoError(t, err)
		require.Equal(t, k.Public(), back.Public())
		require.Equal(t, k.HasSecret(), back.HasSecret())
	})
}

// FuzzDecryptNACL: opening arbitrary bytes as $NACL data (under a fixed
// key, without the slow key derivation) never panics; what opens seals
// back to the same bytes.
func FuzzDecryptNACL(f *testing.F) {
	key := &NACLKey{k: [32]byte{1, 2, 3}}
	k, err := KeyfileFromMnemonic(oldLeopard)
	require.NoError(f, err)
	enc, err := key.Encrypt(k.Marshal(), bytes.NewReader(make([]byte, 24)))
	require.NoError(f, err)
	f.Add(enc)
	f.Add([]byte("$NACL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := key.Decrypt(b)
		if err != nil {
			return
		}
		var nonce [24]byte
		copy(nonce[:], b[5:29])
		require.Equal(t, b, sealNACL(plain, &key.k, &nonce))
		_, _ = DecodeKeyfile(plain, "")
	})
}
