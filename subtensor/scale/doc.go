// Package scale is the offline half of bistro's Subtensor client: the SCALE
// codec driven by the runtime's own metadata, storage keys, calls, signed
// extensions and version-4 extrinsics, and events.
//
// Nothing about the runtime is hard-coded: pallet and call indices, the
// layout of every argument, storage prefixes and hashers, and the list of
// signed extensions (it changes between runtime versions: 11 at spec 343,
// 13 at spec 393) all come from the RuntimeMetadata (v14, v15 or v16) the
// node serves. A signed extension whose data this package does not know is
// an error naming it, unless the caller supplies the data
// (TxParams.Extra, TxParams.Implicit); extensions without data need
// nothing.
//
// # Smallest use
//
//	md, err := scale.DecodeMetadataHex(stateGetMetadataResult)
//	if err != nil { … }
//	call, err := md.SetWeightsCall(netuid, uids, weights, bistro.ProtocolVersion)
//	if err != nil { … }
//	xt, err := md.SignExtrinsic(call, hotkey, &scale.TxParams{
//		SpecVersion:  rv.SpecVersion,   // state_getRuntimeVersion
//		TxVersion:    rv.TransactionVersion,
//		GenesisHash:  genesis,          // chain_getBlockHash(0)
//		Era:          scale.MortalEra(head, 64),
//		EraBlockHash: headHash,         // the hash of block head
//		Nonce:        nonce,            // system_accountNextIndex
//	})
//	// xt is what author_submitExtrinsic takes (as hex).
//
// Reading works the same way: md.StorageKey("Commitments", "CommitmentOf",
// netuid, hotkey) gives the key for state_getStorage, md.DecodeStorage its
// value, md.RuntimeAPIMethod the output type of a state_call, and
// md.DecodeEvents the records of System.Events.
//
// # Values
//
// Values are decoded into plain Go values (see Value): integers, *big.Int
// for 128 and 256 bits, []byte for byte sequences, Composite for structs,
// *VariantValue for enums, []Value for other sequences and tuples. Encoding
// accepts the same and the obvious Go forms (any integer, slices, byte
// arrays, maps by field name).
//
// # Safety
//
// Decoders never panic on input and never allocate more than the input can
// fill: every length is checked against the bytes left, types nest at most
// 96 deep, and sequences of zero-sized elements are capped. Metadata and
// values are immutable once decoded and safe for concurrent use.
package scale
