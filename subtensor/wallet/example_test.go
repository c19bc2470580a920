package wallet_test

import (
	"fmt"
	"os"

	"github.com/bistro-go/bistro/subtensor/wallet"
)

// A wallet folder written and read back as btcli does; the hotkey is what
// a miner or validator signs with.
func Example() {
	root, err := os.MkdirTemp("", "wallets")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)

	k, err := wallet.KeyfileFromMnemonic("old leopard transfer rib spatial phone calm indicate online fire caution review")
	if err != nil {
		panic(err)
	}
	w := wallet.New(root, "miner")
	if err := w.WriteHotkey("default", k, wallet.WriteOptions{}); err != nil {
		panic(err)
	}
	hot, err := w.Hotkey("default")
	if err != nil {
		panic(err)
	}
	fmt.Println(hot.Hotkey())
	fmt.Printf("%v\n", k) // no secret, whatever the verb
	// Output:
	// 5HDvhV6WDCjCKyrXqGQSDYqQAzkzabNhctmiDYEqgBC66BsX
	// wallet.Keyfile{secret 5HDvhV6WDCjCKyrXqGQSDYqQAzkzabNhctmiDYEqgBC66BsX}
}
