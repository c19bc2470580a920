module github.com/bistro-go/bistro/train/cuda

go 1.26.0

require (
	github.com/bistro-go/bistro v0.0.0
	github.com/stretchr/testify v1.12.1
	gorgonia.org/cu v0.9.6
)

require (
	github.com/ChainSafe/go-schnorrkel v1.0.0 // indirect
	github.com/cosmos/go-bip39 v1.0.0 // indirect
	github.com/decred/base58 v1.0.4 // indirect
	github.com/decred/dcrd/crypto/blake256 v1.0.0 // indirect
	github.com/dlclark/regexp2/v2 v2.5.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/gtank/merlin v0.1.1 // indirect
	github.com/gtank/ristretto255 v0.1.2 // indirect
	github.com/mimoo/StrobeGo v0.0.0-20220103164710-9a04d6ca976b // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/tiktoken-go/tokenizer v0.10.0 // indirect
	github.com/vedhavyas/go-subkey/v2 v2.0.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gonum.org/v1/gonum v0.16.0 // indirect
	gonum.org/v1/netlib v0.0.0-20201012070519-2390d26c3658 // indirect
)

// The GPU trainer is a module of its own: gorgonia.org/cu's requirements
// (gorgonia.org/gorgonia, newer gonum.org/v1/netlib) would otherwise move
// the root module's pinned versions.
replace github.com/bistro-go/bistro => ../..
