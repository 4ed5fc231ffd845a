// jose-interop.mjs: Mandate's JOSE layer against the npm `jose` library.
//
// (a) `jose` mints tokens (EdDSA, ES256, ES384, RS256, PS256) and DPoP proofs;
//     `mandate token verify` / `mandate dpop verify` must accept the good ones
//     and refuse tampered, wrong-audience, expired, HS256 and `none` ones.
// (b) `mandate key generate` + `mandate token sign` / `mandate dpop create`
//     make tokens; `jose`'s jwtVerify with createLocalJWKSet (the checks
//     createRemoteJWKSet applies, without the network) must accept them and
//     refuse the tampered, wrong-audience and expired ones.
//
// (c) the signing keyring (tests/node/keyring_helper): its JWKS across a
//     rotation verifies, with `jose`, tokens signed before and after it, and
//     stops verifying the old key's tokens once its retention has passed.
//
// Usage: node jose-interop.mjs [MANDATE_BIN [KEYRING_HELPER]]
// Prints one line per case and ends with "N passed, N failed[, N skipped]".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.argv[2] || process.env.MANDATE_BIN;
const helper = process.argv[3];
if (!existsSync(join(here, 'node_modules', 'jose'))) {
  console.log('skipped: tests/node/node_modules/jose not found (run scripts/test-setup)');
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
if (!bin || !existsSync(bin)) {
  console.log(`skipped: mandate binary not found (${bin})`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
const jose = await import('jose');

const dir = mkdtempSync(join(tmpdir(), 'jose-interop-'));
let passed = 0, failed = 0;

function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name} ${detail}`);
  }
}

function run(args, input) {
  const r = spawnSync(bin, args, { input, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function write(name, obj) {
  const p = join(dir, name);
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
}

const now = () => Math.floor(Date.now() / 1000);
const ISS = 'https://idp.example';
const AUD = 'https://mandate.example';
const ALGS = ['EdDSA', 'ES256', 'ES384', 'RS256', 'PS256'];

// Flips one character in the middle of segment i of a compact JWS.
function tamper(tok, i) {
  const parts = tok.split('.');
  const s = parts[i];
  const k = Math.floor(s.length / 2);
  parts[i] = s.slice(0, k) + (s[k] === 'A' ? 'B' : 'A') + s.slice(k + 1);
  return parts.join('.');
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const PRIVATE = ['d', 'p', 'q', 'dp', 'dq', 'qi'];
const publicOf = (jwk) => Object.fromEntries(Object.entries(jwk).filter(([k]) => !PRIVATE.includes(k)));

// ---- (a) jose signs, mandate verifies ---------------------------------------
async function joseSignsMandateVerifies(alg) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const pub = { ...(await jose.exportJWK(publicKey)), kid: `npm-${alg}`, alg };
  const jwks = write(`npm-${alg}.jwks`, { keys: [pub] });
  const mint = (claims, hdr = {}) =>
    new jose.SignJWT(claims)
      .setProtectedHeader({ alg, kid: pub.kid, typ: 'JWT', ...hdr })
      .sign(privateKey);
  const verify = (tok, extra = []) =>
    run(['token', 'verify', '--jwks', jwks, '--iss', ISS, '--aud', AUD, ...extra], tok);

  const good = await mint({ iss: ISS, aud: AUD, sub: 'agent-1', iat: now(), exp: now() + 300 });
  let r = verify(good);
  let parsed = null;
  try { parsed = JSON.parse(r.out); } catch { /* checked below */ }
  check(`a/${alg} valid token accepted`, r.code === 0 && parsed?.claims?.sub === 'agent-1',
        `code=${r.code} ${r.err}`);
  r = verify(good, ['--alg', alg === 'EdDSA' ? 'ES256' : 'EdDSA']);
  check(`a/${alg} refused when alg not allowed`, r.code === 1, `code=${r.code}`);
  for (const [seg, what] of [[0, 'header'], [1, 'payload'], [2, 'signature']]) {
    r = verify(tamper(good, seg));
    check(`a/${alg} tampered ${what} refused`, r.code === 1, `code=${r.code} ${r.err}`);
  }
  r = verify(await mint({ iss: ISS, aud: 'https://other.example', sub: 'a', exp: now() + 300 }));
  check(`a/${alg} wrong aud refused`, r.code === 1 && /aud/.test(r.err), `code=${r.code} ${r.err}`);
  r = verify(await mint({ iss: 'https://evil.example', aud: AUD, sub: 'a', exp: now() + 300 }));
  check(`a/${alg} wrong iss refused`, r.code === 1 && /iss/.test(r.err), `code=${r.code} ${r.err}`);
  r = verify(await mint({ iss: ISS, aud: AUD, sub: 'a', iat: now() - 7200, exp: now() - 3600 }));
  check(`a/${alg} expired refused`, r.code === 1 && /expired/.test(r.err), `code=${r.code} ${r.err}`);
  r = verify(await mint({ iss: ISS, aud: AUD, sub: 'a', nbf: now() + 3600, exp: now() + 7200 }));
  check(`a/${alg} not yet valid refused`, r.code === 1, `code=${r.code} ${r.err}`);
  // Another key with the same kid.
  const other = await jose.generateKeyPair(alg);
  const forged = await new jose.SignJWT({ iss: ISS, aud: AUD, sub: 'a', exp: now() + 300 })
    .setProtectedHeader({ alg, kid: pub.kid })
    .sign(other.privateKey);
  r = verify(forged);
  check(`a/${alg} other key with same kid refused`, r.code === 1, `code=${r.code}`);
  // The token brings its own key in the header: never trusted.
  const embedded = await new jose.SignJWT({ iss: ISS, aud: AUD, sub: 'a', exp: now() + 300 })
    .setProtectedHeader({ alg, kid: pub.kid, jwk: await jose.exportJWK(other.publicKey) })
    .sign(other.privateKey);
  r = verify(embedded);
  check(`a/${alg} embedded jwk not trusted`, r.code === 1, `code=${r.code}`);
}

async function unsignedAndHmac() {
  const { publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwks = write('hs.jwks', { keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'k' }] });
  const claims = { iss: ISS, aud: AUD, sub: 'a', exp: now() + 300 };
  const none = new jose.UnsecuredJWT(claims).encode();
  let r = run(['token', 'verify', '--jwks', jwks, '--aud', AUD], none);
  check('a/alg none (jose UnsecuredJWT) refused', r.code === 1, `code=${r.code}`);
  const hs = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: 'k' })
    .sign(new TextEncoder().encode('a shared secret of 32 bytes!!!!!'));
  r = run(['token', 'verify', '--jwks', jwks, '--aud', AUD], hs);
  check('a/HS256 refused', r.code === 1, `code=${r.code}`);
}

async function joseDpopMandateVerifies(alg) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const pubJwk = await jose.exportJWK(publicKey);
  const jkt = await jose.calculateJwkThumbprint(pubJwk, 'sha256');
  const at = 'an-access-token.' + randomUUID();
  const ath = b64u(createHash('sha256').update(at).digest());
  const HTU = 'https://api.example/v1/check';
  const proof = (claims, hdr = {}) =>
    new jose.SignJWT({ htm: 'POST', htu: HTU, iat: now(), jti: randomUUID(), ath, ...claims })
      .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: pubJwk, ...hdr })
      .sign(privateKey);
  const verify = (p, extra = []) =>
    run(['dpop', 'verify', '--htm', 'POST', '--htu', HTU, '--ath-token', at, '--jkt', jkt, ...extra], p);

  let r = verify(await proof({}));
  let parsed = null;
  try { parsed = JSON.parse(r.out); } catch { /* checked below */ }
  check(`a/dpop ${alg} valid proof accepted, same jkt`, r.code === 0 && parsed?.jkt === jkt,
        `code=${r.code} ${r.err} ${parsed?.jkt} vs ${jkt}`);
  // htu compared normalised: upper-case host and explicit default port.
  r = verify(await proof({ htu: 'https://API.example:443/v1/check' }));
  check(`a/dpop ${alg} normalised htu accepted`, r.code === 0, `code=${r.code} ${r.err}`);
  r = verify(await proof({ htm: 'GET' }));
  check(`a/dpop ${alg} wrong htm refused`, r.code === 1, `code=${r.code}`);
  r = verify(await proof({ htu: 'https://api.example/v1/other' }));
  check(`a/dpop ${alg} wrong htu refused`, r.code === 1, `code=${r.code}`);
  r = verify(await proof({ iat: now() - 3600 }));
  check(`a/dpop ${alg} stale iat refused`, r.code === 1, `code=${r.code}`);
  r = verify(await proof({ ath: b64u(createHash('sha256').update('other').digest()) }));
  check(`a/dpop ${alg} wrong ath refused`, r.code === 1, `code=${r.code}`);
  r = verify(await proof({}, { typ: 'JWT' }));
  check(`a/dpop ${alg} typ JWT refused`, r.code === 1, `code=${r.code}`);
  const other = await jose.generateKeyPair(alg, { extractable: true });
  r = verify(await proof({}, { jwk: await jose.exportJWK(other.publicKey) }));
  check(`a/dpop ${alg} signed by another key than its jwk refused`, r.code === 1, `code=${r.code}`);
  r = verify(await proof({}, { jwk: await jose.exportJWK(privateKey) }));
  check(`a/dpop ${alg} private key in header refused`, r.code === 1, `code=${r.code}`);
  r = verify(tamper(await proof({}), 1));
  check(`a/dpop ${alg} tampered proof refused`, r.code === 1, `code=${r.code}`);
}

// A JWKS served over HTTP on 127.0.0.1, fetched by jose's createRemoteJWKSet.
let served = { keys: [] };
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(served));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const remoteUrl = new URL(`http://127.0.0.1:${server.address().port}/jwks`);

// ---- (b) mandate signs, jose verifies ---------------------------------------
async function mandateSignsJoseVerifies(alg) {
  const kid = `mandate-${alg}`;
  let r = run(['key', 'generate', '--alg', alg, '--kid', kid]);
  if (r.code !== 0) {
    check(`b/${alg} key generate`, false, r.err);
    return;
  }
  const priv = JSON.parse(r.out);
  const keyFile = write(`${kid}.jwk`, priv);
  const JWKS = jose.createLocalJWKSet({ keys: [publicOf(priv)] });
  const sign = (claims) => {
    const res = run(['token', 'sign', '--key', keyFile, '--claims', write('claims.json', claims)]);
    return res.out.trim();
  };
  const opts = { issuer: ISS, audience: AUD, algorithms: [alg], typ: 'JWT' };
  const expectReject = async (name, tok, code) => {
    try {
      await jose.jwtVerify(tok, JWKS, opts);
      check(name, false, 'accepted');
    } catch (e) {
      check(name, !code || e.code === code, `${e.code} ${e.message}`);
    }
  };
  const good = sign({ iss: ISS, aud: [AUD, 'x'], sub: 'agent-1', iat: now(), exp: now() + 300,
                      cnf: { jkt: 'abc' } });
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(good, JWKS, opts);
    check(`b/${alg} jose accepts mandate token`,
          payload.sub === 'agent-1' && protectedHeader.kid === kid && protectedHeader.alg === alg);
  } catch (e) {
    check(`b/${alg} jose accepts mandate token`, false, `${e.code} ${e.message}`);
  }
  // The same token through createRemoteJWKSet (fetch, cache, kid selection).
  served = { keys: [publicOf(priv)] };
  try {
    const remote = jose.createRemoteJWKSet(remoteUrl);
    const { payload } = await jose.jwtVerify(good, remote, opts);
    check(`b/${alg} jose createRemoteJWKSet accepts mandate token`, payload.sub === 'agent-1');
  } catch (e) {
    check(`b/${alg} jose createRemoteJWKSet accepts mandate token`, false, `${e.code} ${e.message}`);
  }
  await expectReject(`b/${alg} tampered payload refused by jose`, tamper(good, 1),
                     'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  await expectReject(`b/${alg} tampered signature refused by jose`, tamper(good, 2),
                     'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  await expectReject(`b/${alg} wrong aud refused by jose`,
                     sign({ iss: ISS, aud: 'https://other', sub: 'a', exp: now() + 300 }),
                     'ERR_JWT_CLAIM_VALIDATION_FAILED');
  await expectReject(`b/${alg} expired refused by jose`,
                     sign({ iss: ISS, aud: AUD, sub: 'a', iat: now() - 7200, exp: now() - 3600 }),
                     'ERR_JWT_EXPIRED');

  // mandate dpop create -> jose verifies it with the embedded jwk.
  const at = 'token-' + randomUUID();
  r = run(['dpop', 'create', '--key', keyFile, '--htm', 'POST', '--htu',
           'https://api.example/v1/check', '--ath-token', at]);
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(r.out.trim(), jose.EmbeddedJWK,
                                                              { typ: 'dpop+jwt', algorithms: [alg] });
    const jkt = await jose.calculateJwkThumbprint(protectedHeader.jwk, 'sha256');
    const want = await jose.calculateJwkThumbprint(publicOf(priv), 'sha256');
    const ath = b64u(createHash('sha256').update(at).digest());
    check(`b/dpop ${alg} mandate proof verified by jose`,
          payload.htm === 'POST' && payload.ath === ath && jkt === want &&
          protectedHeader.jwk.d === undefined && typeof payload.jti === 'string');
  } catch (e) {
    check(`b/dpop ${alg} mandate proof verified by jose`, false, `${e.code} ${e.message} ${r.err}`);
  }
}

// ---- (c) the keyring's JWKS across a rotation ---------------------------------
async function keyringRotation(alg) {
  const r = spawnSync(helper, [alg], { encoding: 'utf8' });
  let k;
  try { k = JSON.parse(r.stdout); } catch { /* checked below */ }
  if (r.status !== 0 || !k) {
    check(`c/${alg} keyring_helper ran`, false, r.stderr);
    return;
  }
  const opts = { issuer: 'https://mandate.example', audience: 'downstream', algorithms: [alg] };
  const ok = async (name, tok, jwks) => {
    try {
      await jose.jwtVerify(tok, jose.createLocalJWKSet(jwks), opts);
      check(name, true);
    } catch (e) {
      check(name, false, `${e.code} ${e.message}`);
    }
  };
  const refused = async (name, tok, jwks) => {
    try {
      await jose.jwtVerify(tok, jose.createLocalJWKSet(jwks), opts);
      check(name, false, 'accepted');
    } catch (e) {
      check(name, e.code === 'ERR_JWKS_NO_MATCHING_KEY', `${e.code} ${e.message}`);
    }
  };
  check(`c/${alg} JWKS before: one key, public only`, k.jwks_before.keys.length === 1 &&
        k.jwks_before.keys.every((x) => PRIVATE.every((m) => !(m in x)) && x.use === 'sig'));
  check(`c/${alg} JWKS after rotation: new key first, old kept`,
        k.jwks_after.keys.length === 2 && k.jwks_after.keys[1].kid === k.jwks_before.keys[0].kid);
  await ok(`c/${alg} token from before the rotation verifies`, k.token_old, k.jwks_after);
  await ok(`c/${alg} token from after the rotation verifies`, k.token_new, k.jwks_after);
  await refused(`c/${alg} new token unknown to the old JWKS`, k.token_new, k.jwks_before);
  await refused(`c/${alg} old key gone after retention`, k.token_old, k.jwks_retired);
  await ok(`c/${alg} new key still published after retention`, k.token_new, k.jwks_retired);
}

try {
  for (const alg of ALGS) {
    await joseSignsMandateVerifies(alg);
  }
  await unsignedAndHmac();
  for (const alg of ['EdDSA', 'ES256', 'RS256']) {
    await joseDpopMandateVerifies(alg);
  }
  for (const alg of ALGS) {
    await mandateSignsJoseVerifies(alg);
  }
  if (helper && existsSync(helper)) {
    for (const alg of ['ES256', 'EdDSA', 'PS256']) {
      await keyringRotation(alg);
    }
  } else {
    console.log('note: keyring_helper not given, keyring cases not run');
  }
} catch (e) {
  check('interop run', false, e.stack);
} finally {
  rmSync(dir, { recursive: true, force: true });
  server.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
