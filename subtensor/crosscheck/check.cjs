// check.cjs: the independent side of bistro's Subtensor cross-checks.
//
// Reads one JSON request {"ops": [...]} on stdin and writes {"results":
// [...]} on stdout, one result per op, in order ({"error": "..."} for an op
// that failed). Everything is computed with @polkadot/types,
// @polkadot/util-crypto, @polkadot/keyring and libsodium-wrappers-sumo, by
// name from the metadata, never from bistro's output: the Go tests compare
// byte for byte.
//
// Run by subtensor/crosscheck's Go tests with NODE_PATH set to the
// node_modules that scripts/npm-crosscheck installs.
'use strict';

const fs = require('fs');
const { TypeRegistry, Metadata } = require('@polkadot/types');
const { expandMetadata } = require('@polkadot/types/metadata/decorate');
const { u8aToHex, hexToU8a, compactStripLength, stringCamelCase, u8aConcat } = require('@polkadot/util');
const {
  cryptoWaitReady, signatureVerify, blake2AsU8a, mnemonicToMiniSecret, sr25519PairFromSeed,
  decodeAddress, encodeAddress,
} = require('@polkadot/util-crypto');
const { Keyring } = require('@polkadot/keyring');
const sodium = require('libsodium-wrappers-sumo');

// btwallet's fixed Argon2 salt and libsodium's argon2i13 SENSITIVE limits.
const NACL_SALT = hexToU8a('0x137183dff15a09bc9c90b5518739e9b1');
const ARGON2I_OPSLIMIT = 8;
const ARGON2I_MEMLIMIT = 512 * 1024 * 1024;

const loaded = {}; // metadata id -> {registry, metadata, tx, query}

function loadMetadata(op) {
  let bytes;
  if (op.encoding === 'binary') {
    bytes = new Uint8Array(fs.readFileSync(op.file));
  } else {
    bytes = hexToU8a(fs.readFileSync(op.file, 'utf8').trim());
  }
  if (op.opaque) {
    const outer = new TypeRegistry();
    bytes = outer.createType('Option<OpaqueMetadata>', bytes).unwrap().toU8a(true);
  }
  const registry = new TypeRegistry();
  const metadata = new Metadata(registry, bytes);
  registry.setMetadata(metadata);
  const { tx, query } = expandMetadata(registry, metadata);
  loaded[op.id] = { registry, metadata, tx, query };
  return { version: metadata.version, signedExtensions: registry.signedExtensions };
}

function md(op) {
  const m = loaded[op.md];
  if (!m) throw new Error(`metadata ${op.md} not loaded`);
  return m;
}

// call encodes a call by pallet and call name (snake_case names from the
// metadata, turned into polkadot's camelCase), arguments in order.
function call(op) {
  const { tx } = md(op);
  const section = tx[stringCamelCase(op.pallet)];
  if (!section) throw new Error(`no pallet ${op.pallet}`);
  const fn = section[stringCamelCase(op.call)];
  if (!fn) throw new Error(`no call ${op.pallet}.${op.call}`);
  return { hex: fn(...op.args).toHex() };
}

function storageKey(op) {
  const { query } = md(op);
  const entry = query[stringCamelCase(op.pallet)][stringCamelCase(op.entry)];
  if (!entry) throw new Error(`no storage ${op.pallet}.${op.entry}`);
  const key = op.keys.length ? entry(...op.keys) : entry();
  return { hex: u8aToHex(compactStripLength(key)[1]) };
}

function payloadOf(registry, op) {
  const era = op.immortal
    ? registry.createType('ExtrinsicEra', new Uint8Array([0]))
    : registry.createType('ExtrinsicEra', { current: op.current, period: op.period });
  return {
    era,
    payload: registry.createType('ExtrinsicPayload', {
      method: op.call,
      era,
      nonce: op.nonce,
      tip: op.tip,
      specVersion: op.specVersion,
      transactionVersion: op.transactionVersion,
      genesisHash: op.genesisHash,
      blockHash: op.immortal ? op.genesisHash : op.blockHash,
      mode: op.metadataHash ? 1 : 0,
      metadataHash: op.metadataHash || undefined,
      version: 4,
    }, { version: 4 }),
  };
}

// sign builds the signing payload, checks the Go signature over it, signs it
// with the keyring, and lays out both extrinsics.
function sign(op) {
  const { registry } = md(op);
  const { era, payload } = payloadOf(registry, op);
  const raw = payload.toU8a({ method: true });
  const toSign = raw.length > 256 ? blake2AsU8a(raw) : raw;
  const out = { era: era.toHex(), payload: u8aToHex(raw), signed: u8aToHex(toSign) };
  const pair = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(op.uri);
  out.address = pair.address;
  if (op.goSignature) {
    out.goSignatureValid = signatureVerify(toSign, op.goSignature, pair.address).isValid;
    const ours = registry.createType('Extrinsic', registry.createType('Call', op.call));
    // A MultiSignature: 0x01 (Sr25519) then the 64 bytes.
    ours.addSignature(pair.address, u8aConcat(new Uint8Array([1]), hexToU8a(op.goSignature)), payload.toHex());
    out.withGoSignature = ours.toHex();
  }
  const sig = pair.sign(toSign, { withType: true }); // 0x01 ‖ signature
  out.signature = u8aToHex(sig.slice(1));
  const theirs = registry.createType('Extrinsic', registry.createType('Call', op.call));
  theirs.addSignature(pair.address, sig, payload.toHex());
  out.extrinsic = theirs.toHex();
  return out;
}

// decodeExtrinsic reads an extrinsic the Go side built.
function decodeExtrinsic(op) {
  const { registry } = md(op);
  const x = registry.createType('Extrinsic', op.hex);
  return {
    section: x.method.section,
    method: x.method.method,
    args: x.method.args.map((a) => a.toHex()),
    signer: x.signer.toString(),
    nonce: x.nonce.toString(),
    tip: x.tip.toString(),
    era: x.era.toHex(),
    reencoded: x.toHex(),
    hash: x.hash.toHex(),
  };
}

// events decodes a System.Events value with the entry's own type.
function events(op) {
  const { registry, query } = md(op);
  const type = registry.createLookupType(query.system.events.meta.type.asPlain);
  const v = registry.createType(type, op.hex);
  return {
    reencoded: v.toHex(),
    records: v.map((r) => ({
      phase: r.phase.type,
      section: r.event.section,
      method: r.event.method,
      data: r.event.data.map((d) => d.toHex()),
      topics: r.topics.map((t) => t.toHex()),
    })),
  };
}

function commitHash(op) {
  const registry = new TypeRegistry();
  const t = registry.createType('(AccountId, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64)',
    [op.hotkey, op.netuid, op.uids, op.values, op.salt, op.versionKey]);
  return { hex: u8aToHex(blake2AsU8a(t.toU8a(), 256)) };
}

// keys derives a key from a mnemonic as polkadot does, and gives the private
// key in btwallet's form: schnorrkel's key ‖ nonce, polkadot's ed25519-form
// key divided by the cofactor.
function keys(op) {
  const mini = mnemonicToMiniSecret(op.mnemonic);
  const pair = sr25519PairFromSeed(mini);
  const key = pair.secretKey.slice(0, 32);
  let carry = 0;
  for (let i = 31; i >= 0; i--) {
    const r = key[i] & 7;
    key[i] = (key[i] >> 3) | carry;
    carry = (r << 5) & 0xff;
  }
  return {
    seed: u8aToHex(mini),
    publicKey: u8aToHex(pair.publicKey),
    address: encodeAddress(pair.publicKey, 42),
    privateKey: u8aToHex(u8aConcat(key, pair.secretKey.slice(32))),
  };
}

function verify(op) {
  return { valid: signatureVerify(op.message, op.signature, decodeAddress(op.address)).isValid };
}

// nacl derives the key of a password (libsodium argon2i13), or takes the
// key such a derivation returned earlier, and uses it to decrypt the Go
// side's $NACL data and to encrypt plaintext for the Go side to decrypt.
function nacl(op) {
  const key = op.key ? hexToU8a(op.key)
    : sodium.crypto_pwhash(32, op.password, NACL_SALT, ARGON2I_OPSLIMIT, ARGON2I_MEMLIMIT,
      sodium.crypto_pwhash_ALG_ARGON2I13);
  const out = { key: u8aToHex(key) };
  if (op.decrypt) {
    const data = hexToU8a(op.decrypt);
    const prefix = new TextDecoder().decode(data.slice(0, 5));
    if (prefix !== '$NACL') throw new Error('not $NACL data');
    out.decrypted = u8aToHex(sodium.crypto_secretbox_open_easy(data.slice(29), data.slice(5, 29), key));
  }
  if (op.encrypt) {
    const nonce = op.nonce ? hexToU8a(op.nonce) : sodium.randombytes_buf(24);
    const box = sodium.crypto_secretbox_easy(hexToU8a(op.encrypt), nonce, key);
    out.encrypted = u8aToHex(u8aConcat(new TextEncoder().encode('$NACL'), nonce, box));
  }
  return out;
}

const ops = { loadMetadata, call, storageKey, sign, decodeExtrinsic, events, commitHash, keys, verify, nacl };

async function main() {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  await cryptoWaitReady();
  await sodium.ready;
  const results = [];
  for (const op of req.ops) {
    try {
      const fn = ops[op.op];
      if (!fn) throw new Error(`unknown op ${op.op}`);
      results.push(fn(op));
    } catch (e) {
      results.push({ error: String(e && e.stack || e) });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
