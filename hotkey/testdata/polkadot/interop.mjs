// Cross-check for hotkey's TestPolkadotInterop. It reads one JSON request
// from stdin, does the polkadot-js half of every check and writes one JSON
// reply to stdout. The Go test installs @polkadot/util-crypto, util and
// keyring 14.0.3 next to a copy of this file and runs it with node.
import { createHash, randomUUID } from 'node:crypto';
import { Keyring } from '@polkadot/keyring';
import { hexToU8a, u8aToHex, u8aConcat, stringToU8a } from '@polkadot/util';
import {
  cryptoWaitReady, encodeAddress, decodeAddress, mnemonicGenerate,
  signatureVerify, sr25519Verify, sr25519PairFromSeed,
} from '@polkadot/util-crypto';

const readStdin = async () => {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
};

const req = await readStdin();
await cryptoWaitReady();
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const wrap = (m) => u8aConcat(stringToU8a('<Bytes>'), m, stringToU8a('</Bytes>'));
const out = {};

// Go signed these with the key at req.goAddress: verify with the plain
// sr25519 check and with signatureVerify, and make sure a tampered message
// fails.
const goPub = decodeAddress(req.goAddress);
out.goVerify = req.goSigned.map(({ msg, sig }) => {
  const m = hexToU8a(msg);
  const tampered = u8aConcat(m, new Uint8Array([0]));
  return {
    sr25519Verify: sr25519Verify(m, hexToU8a(sig), goPub),
    signatureVerify: signatureVerify(m, hexToU8a(sig), req.goAddress).isValid,
    tamperedRejected: !sr25519Verify(tampered, hexToU8a(sig), goPub),
  };
});

// Addresses for secret URIs, and SS58 for raw public keys.
out.uriAddresses = req.uris.map((uri) => keyring.addFromUri(uri).address);
out.ss58 = req.pubkeys.map((pub) => encodeAddress(hexToU8a(pub), 42));

// polkadot-js's 64-byte secret key encoding for the given seeds.
out.seedPairs = req.seeds.map((seed) => {
  const p = sr25519PairFromSeed(hexToU8a(seed));
  return { seed, secretKey: u8aToHex(p.secretKey), publicKey: u8aToHex(p.publicKey) };
});

// A fresh key signs the messages Go sent, every third one <Bytes>-wrapped
// the way wallet extensions sign.
const mnemonic = mnemonicGenerate(12);
const pair = keyring.addFromUri(mnemonic);
out.jsMnemonic = mnemonic;
out.jsAddress = pair.address;
out.jsSigned = req.toSign.map((msg, i) => {
  const m = hexToU8a(msg);
  const wrapped = i % 3 === 2;
  return { msg, sig: u8aToHex(pair.sign(wrapped ? wrap(m) : m)), wrapped };
});

// Epistula, JS to Go: sign a request for the Go key, computing the body
// hash with node's own sha256.
const epistulaMessage = (body, uuid, ts, signedFor) =>
  `${createHash('sha256').update(body).digest('hex')}.${uuid}.${ts}.${signedFor}`;
{
  const body = Buffer.from(req.epistulaBody, 'utf8');
  const uuid = randomUUID();
  const ts = String(Date.now());
  const message = epistulaMessage(body, uuid, ts, req.goAddress);
  out.jsEpistula = {
    message,
    headers: {
      'Epistula-Version': '2',
      'Epistula-Timestamp': ts,
      'Epistula-Uuid': uuid,
      'Epistula-Signed-By': pair.address,
      'Epistula-Signed-For': req.goAddress,
      'Epistula-Request-Signature': u8aToHex(pair.sign(stringToU8a(message))),
    },
  };
}

// Epistula, Go to JS: rebuild the message from Go's headers and verify it.
{
  const h = req.goEpistula.headers;
  const body = Buffer.from(hexToU8a(req.goEpistula.body));
  const message = epistulaMessage(body, h['Epistula-Uuid'], h['Epistula-Timestamp'], h['Epistula-Signed-For'] ?? '');
  out.goEpistula = {
    message,
    valid: signatureVerify(stringToU8a(message), hexToU8a(h['Epistula-Request-Signature']), h['Epistula-Signed-By']).isValid,
  };
}

process.stdout.write(JSON.stringify(out));
