// Package wallet reads and writes btcli wallet folders, byte for byte as
// btcli (btwallet) does: keyfiles of JSON (accountId, publicKey,
// privateKey = schnorrkel key ‖ nonce, secretPhrase, secretSeed =
// mini-secret, ss58Address), the coldkey encrypted with a password as
// "$NACL" ‖ nonce ‖ secretbox under an Argon2i key, public parts in
// coldkeypub.txt and hotkeys/<name>pub.txt.
//
// # Smallest use
//
//	root, _ := wallet.DefaultRoot()               // ~/.bittensor/wallets
//	hot, err := wallet.New(root, "miner").Hotkey("default")
//	if err != nil { … }
//	// hot is a bistro.Signer: hand it to a Miner or a Validator.
//
// Secrets never leave through fmt or errors: Keyfile and the Signer this
// package returns print their SS58 address under every verb, and errors
// name files and addresses only. Decrypting a coldkey derives an Argon2i
// key with 512 MiB and 8 passes, as btcli does: it takes seconds and half
// a GiB of memory.
package wallet
