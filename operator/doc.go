// Package operator turns the SDK into a node an operator runs on a real
// Bittensor subnet: what examples/miner and examples/validator share, so that
// each main.go only wires it (and a custom miner or validator is the same few
// lines with its own strategy, scorer or ledger).
//
//   - Flags as bittensor's miner.py and validator.py have them (Flags.Register):
//     --wallet.name, --wallet.hotkey, --wallet.path, --subtensor.network
//     (finney, test, local, archive) or --subtensor.chain_endpoint (wins),
//     --netuid, --bucket, --params, --device, --state, --metrics.addr,
//     --logging.debug, --logging.trace, --logging.format; a .env file in the
//     working directory is read as the original did (the environment wins).
//   - The subnet's release (LoadRelease): --params names params.json in a file,
//     an s3:// URL or an https:// URL; genesis.safetensors (θ₀, checked against
//     Params.GenesisDigest) and dataset/manifest.json (unless the Params pin the
//     offline corpus) are read beside it. `bistro genesis` writes a release and
//     `bistro publish` uploads one.
//   - Start-up checks (Setup): every configuration that cannot work — a missing
//     wallet, an unknown network, a dead endpoint, an unregistered hotkey, a
//     subnet whose weights need timelock encryption, a bucket the keys cannot
//     write, Params no validator of the subnet announces — is a *ConfigError
//     with one line, and the binaries exit 2. Only the hotkey is read: a locked
//     coldkey is fine.
//   - Operations: Prometheus metrics on /metrics (Metrics; the dashboard in
//     grafana/bistro.json), /healthz, and /readyz (ready when the replica holds
//     the current window's base); a progress line per window; SIGINT or
//     SIGTERM stops the node cleanly within ShutdownBound (the window's upload
//     finished or abandoned, the validator's ledger saved), and a restart with
//     the same --state resumes; validators set weights through hash
//     commit-reveal where the subnet has it on.
//
// Secrets (the bucket's write key) never appear in logs, errors or metrics;
// the read-only key a node announces is public on chain by design.
package operator
