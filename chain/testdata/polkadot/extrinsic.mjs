// Cross-check for chain's TestPolkadotCrossCheck. It reads one JSON request
// from stdin, does the polkadot-js half of every check and writes one JSON
// reply to stdout. The Go test installs @polkadot/types 16.5.6 (with
// util, util-crypto and keyring 14.0.3) next to a copy of this file and
// runs it with node.
//
// Independence: the signing payload and the extension fields of the
// extrinsic are built by @polkadot/types from the field values alone (the
// era from {current, period}), with a TypeRegistry told the subtensor
// extension list; nothing is taken from Go's bytes except the call, the
// signature and the signer.
import { Metadata, TypeRegistry } from '@polkadot/types';
import substrateV14 from '@polkadot/types-support/metadata/v14/substrate-hex';
import substrateV15 from '@polkadot/types-support/metadata/v15/substrate-hex';
import { compactAddLength, compactStripLength, hexToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsU8a, cryptoWaitReady, sr25519Verify, xxhashAsHex } from '@polkadot/util-crypto';

const readStdin = async () => {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
};

const req = await readStdin();
await cryptoWaitReady();

const zero = { extrinsic: {}, payload: {} };
const registry = new TypeRegistry();
// The subtensor runtime's extension tuple, in order. CheckNonZeroSender,
// CheckSpecVersion, CheckTxVersion, CheckGenesis, CheckMortality,
// CheckNonce, CheckWeight and CheckMetadataHash are polkadot-js's standard
// definitions (subtensor's own CheckMortality and CheckNonce encode like
// them); the rest are declared here.
registry.setSignedExtensions(req.extensions, {
  ChargeTransactionPaymentWrapper: { extrinsic: { tip: 'Compact<Balance>' }, payload: {} },
  SudoTransactionExtension: zero,
  CheckShieldedTxValidity: zero,
  SubtensorTransactionExtension: zero,
  DrandPriority: zero,
});
registry.register({
  AxonInfo: {
    block: 'u64', version: 'u32', ip: 'u128', port: 'u16',
    ip_type: 'u8', protocol: 'u8', placeholder1: 'u8', placeholder2: 'u8',
  },
  PrometheusInfo: { block: 'u64', version: 'u32', ip: 'u128', port: 'u16', ip_type: 'u8' },
  NeuronInfoLite: {
    hotkey: 'AccountId32',
    coldkey: 'AccountId32',
    uid: 'Compact<u16>',
    netuid: 'Compact<u16>',
    active: 'bool',
    axon_info: 'AxonInfo',
    prometheus_info: 'PrometheusInfo',
    stake: 'Vec<(AccountId32, Compact<u64>)>',
    rank: 'Compact<u16>',
    emission: 'Compact<u64>',
    incentive: 'Compact<u16>',
    consensus: 'Compact<u16>',
    trust: 'Compact<u16>',
    validator_trust: 'Compact<u16>',
    dividends: 'Compact<u16>',
    last_update: 'Compact<u64>',
    validator_permit: 'bool',
    pruning_score: 'Compact<u16>',
  },
});

const out = { xxhash: {}, cases: [] };
for (const s of req.xxhash) out.xxhash[s] = xxhashAsHex(s, 128);

for (const c of req.cases) {
  const era = c.period ? registry.createType('ExtrinsicEra', { current: c.current, period: c.period }) : '0x00';
  const value = {
    method: c.call,
    era,
    nonce: c.nonce,
    tip: c.tip,
    specVersion: c.specVersion,
    transactionVersion: c.transactionVersion,
    genesisHash: c.genesisHash,
    blockHash: c.blockHash,
    mode: 0,
    metadataHash: null,
  };
  const payload = registry.createType('ExtrinsicPayload', value, { version: 4 });
  const payloadU8a = payload.toU8a({ method: true });
  const message = payloadU8a.length > 256 ? blake2AsU8a(payloadU8a) : payloadU8a;
  const pub = hexToU8a(c.signer);
  const sig = hexToU8a(c.signature);
  const signature = registry.createType('ExtrinsicSignatureV4');
  signature.addSignature(c.signer, u8aConcat(new Uint8Array([1]), sig), value);
  const extrinsic = compactAddLength(u8aConcat(new Uint8Array([0x84]), signature.toU8a(), hexToU8a(c.call)));
  out.cases.push({
    era: u8aToHex(registry.createType('ExtrinsicEra', era).toU8a()),
    payload: u8aToHex(payloadU8a),
    sr25519Verify: sr25519Verify(message, sig, pub),
    extrinsic: u8aToHex(extrinsic),
  });
}

// Neurons: JS encodes Go's values; JS decodes Go's encoding and re-encodes.
out.neuronsEncoded = registry.createType('Vec<NeuronInfoLite>', req.neurons).toHex();
const fromGo = registry.createType('Vec<NeuronInfoLite>', hexToU8a(req.neuronsGo));
out.neuronsGoReencoded = fromGo.toHex();
out.neuronsGoCount = fromGo.length;

// Real runtime metadata (Substrate's kitchen-sink node, V14 and V15) and
// the extension identifiers polkadot-js reads from it. The V15 blob is the
// Option<OpaqueMetadata> that Metadata_metadata_at_version returns; unwrap
// it to the "meta"-prefixed bytes state_getMetadata would give.
const v15 = hexToU8a(substrateV15);
if (v15[0] !== 1) throw new Error('V15 metadata: expected Some');
out.metadata = [[14, substrateV14], [15, u8aToHex(compactStripLength(v15.subarray(1))[1])]].map(([version, hex]) => {
  const m = new Metadata(new TypeRegistry(), hex);
  return {
    version,
    hex,
    extensions: m[`asV${version}`].extrinsic.signedExtensions.map((e) => e.identifier.toString()),
  };
});

process.stdout.write(JSON.stringify(out));
