package wallet

import "crypto/rand"

// cryptoRand is the default source of nonces.
var cryptoRand = rand.Reader
