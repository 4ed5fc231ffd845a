// keys-e2e.mjs: Mandate's signing keys rotated and revoked while the server
// runs (docs/operations.md "Signing keys"), against the real server
// (harness: access-harness.mjs) and npm `jose` verifying against the
// published JWKS: the JWKS at each step, tokens signed before a rotation
// still verifying (introspection, checks, jose), new tokens carrying the new
// kid, a pending key published before it signs (a JWKS cached before it
// signs verifies its tokens), a revoked key leaving the
// JWKS at once and its tokens refused, a revoked signing key replaced,
// state kept across a restart, the audit records, who may call what, and
// the CLI (`mandate key list|rotate|revoke`).
//
// Usage: node keys-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { spawn, spawnSync } from 'node:child_process';
import { setup, REFUND_BOT } from './access-harness.mjs';

const { bin, jose, t, h } = await setup();
const TOOL_URL = 'https://orders.internal.example/v1/orders';
const readCall = { tool: 'orders.read', action: 'read', resource: 'order:1' };
const keys = {};
const SUB = 'spiffe://corp.example/agents/keys-sub';
let subKey = null;

async function jwks() {
  const r = await fetch(`${h.base}/.well-known/jwks.json`);
  return r.json();
}
const kidsOf = (set) => set.keys.map((k) => k.kid).sort();
const kidOf = (token) => jose.decodeProtectedHeader(token).kid;
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

const check = (token, key = h.agentKey, base = h.base) =>
  h.check(token, readCall, key, { key: keys.pep, url: TOOL_URL, base });

// A check refused because of the token or its task (401, or a deny for a
// revoked task or an invalid token), not for the call budget or rate.
const refused = (r) => r.status === 401 || (r.status === 200 && r.body && r.body.allow === false &&
  !(r.body.reasons || []).some((x) => /budget|rate/.test(x)) &&
  (r.body.revoked === true || r.body.task_state === 'revoked' ||
    (r.body.reasons || []).some((x) => /token|revoked/.test(x))));

async function introspect(token) {
  const r = await fetch(`${h.base}/oauth2/introspect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys.pep}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return r.json();
}

// Does npm jose accept token against this JWKS (signature only: kid lookup)?
async function joseOk(token, set) {
  try {
    await jose.jwtVerify(token, jose.createLocalJWKSet(set), { issuer: h.base, typ: 'at+jwt' });
    return true;
  } catch (err) {
    return err.code;
  }
}

function cli(args, key = h.adminKey) {
  const r = spawnSync(bin, ['key', ...args, '--url', h.base, '--key', key], { encoding: 'utf8' });
  let body = null;
  try { body = JSON.parse(r.stdout); } catch { /* not JSON */ }
  return { status: r.status, body, out: r.stdout, err: r.stderr };
}

// A second server on the same store (a replica), ticking every second.
async function replica() {
  const p = spawn(bin, ['serve', '--db', h.db, '--kek-file', h.kek, '--listen', '127.0.0.1:0',
    '--issuer', h.base, '--log-level', 'info', '--signing-key-check-s', '1'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = await new Promise((res, rej) => {
    p.stderr.on('data', (d) => {
      err += d;
      const m = /"event":"listening"[^\n]*"port":"(\d+)"/.exec(err);
      if (m) res(m[1]);
    });
    p.on('exit', () => rej(new Error(`replica exited: ${err}`)));
  });
  return { proc: p, base: `http://127.0.0.1:${port}`, log: () => err };
}

async function until(fn, ms = 5000) {
  for (let waited = 0; waited < ms; waited += 100) {
    if (await fn()) return true;
    await sleep(100);
  }
  return false;
}

async function auditEvents(event) {
  const r = await h.api('GET', '/v1/audit?limit=500', undefined, keys.auditor);
  return (r.body && r.body.items ? r.body.items : []).filter((x) => x.event === event);
}

try {
  await h.loadExample();
  for (const [name, role] of [['pep', 'pep'], ['security', 'security'], ['auditor', 'auditor']]) {
    keys[name] = (await h.must('POST', '/v1/api-keys', { name: `k-${name}`, role })).key;
  }
  await h.must('POST', '/v1/agents', { id: SUB, owner: 'alice', team: 'payments', purpose: 'sub-agent',
    environment: 'production', risk_tier: 0, issuer: 'corp-spiffe' });
  await h.must('POST', `/v1/agents/${SUB}/entitlements`, { intent: 'refunds' });
  subKey = await jose.generateKeyPair('ES256', { extractable: true });

  // ---- the start: one key ------------------------------------------------------------------
  const set0 = await jwks();
  const jr = await fetch(`${h.base}/.well-known/jwks.json`);
  t.check('the JWKS may be cached 5 minutes (public, max-age=300)',
    jr.headers.get('cache-control') === 'public, max-age=300', jr.headers.get('cache-control'));
  const kr = await fetch(`${h.base}/v1/keys`, { headers: { authorization: `Bearer ${keys.auditor}` } });
  t.check('other answers are not cached (no-store)', kr.status === 200 && kr.headers.get('cache-control') === 'no-store',
    kr.headers.get('cache-control'));
  t.check('start: the JWKS holds one ES256 signing key', set0.keys.length === 1 &&
    set0.keys[0].alg === 'ES256' && set0.keys[0].use === 'sig' && !('d' in set0.keys[0]), JSON.stringify(set0));
  const K1 = set0.keys[0].kid;
  let r = await h.api('GET', '/v1/keys', undefined, keys.auditor);
  t.check('GET /v1/keys (auditor): K1 current', r.status === 200 && r.body.keys.length === 1 &&
    r.body.keys[0].kid === K1 && r.body.keys[0].state === 'current', r.text);
  const a = await h.task();
  const b = await h.task();
  const parent = await h.task(); // delegated below once K1 no longer signs
  t.check('tokens carry K1', kidOf(a.access_token) === K1 && kidOf(b.access_token) === K1);
  t.check('K1 token: check allows (and is cached)', (await check(a.access_token)).body?.allow === true);

  // ---- a pending key: published before it signs ---------------------------------------------
  r = await h.api('POST', '/v1/keys/rotate', { activate_in_s: 3600 });
  const K2 = r.body && r.body.kid;
  t.check('rotate with activate_in_s 3600: a new kid, audited', r.status === 200 && K2 && K2 !== K1 &&
    r.body.audit_id > 0, r.text);
  const st2 = r.body.keys.map((k) => `${k.kid === K1 ? 'K1' : k.kid === K2 ? 'K2' : '?'}:${k.state}`).join(' ');
  t.check('K2 pending, K1 still current', st2 === 'K2:pending K1:current', st2);
  const set1 = await jwks();
  t.check('JWKS: K1 and the pending K2 (verifiers learn K2 ahead of use)',
    JSON.stringify(kidsOf(set1)) === JSON.stringify([K1, K2].sort()), JSON.stringify(kidsOf(set1)));
  const c = await h.task();
  t.check('while K2 is pending new tokens still carry K1', kidOf(c.access_token) === K1);

  // ---- rotation at once, through the CLI ----------------------------------------------------
  await sleep(1100); // K1's tasks lie wholly before K3's first second
  r = cli(['rotate']);
  const K3 = r.body && r.body.kid;
  t.check('mandate key rotate: exit 0, a new kid', r.status === 0 && K3 && K3 !== K1 && K3 !== K2, r.out + r.err);
  // Times are whole seconds: a task created in the second of a rotation may
  // carry either key, and a revocation ends it either way (fail closed).
  await sleep(1100);
  const d = await h.task();
  t.check('after rotation new tokens carry the new kid K3', kidOf(d.access_token) === K3, kidOf(d.access_token));
  // the parent proves its key, the child's key goes in dpop_jkt (docs/delegation.md)
  r = await h.delegate(parent.access_token, h.agentKey, SUB, subKey,
    { tools: [{ name: 'orders.read', actions: ['read'] }] });
  const child = r.body;
  t.check('a K1 task delegates after the rotation: the child token carries K3', r.status === 200 &&
    kidOf(child.access_token) === K3, r.text);
  t.check('the child token: check allows', (await check(child.access_token, subKey)).body?.allow === true);
  const set2 = await jwks();
  t.check('JWKS: K1 (previous), K3 (current), K2 (pending)',
    JSON.stringify(kidsOf(set2)) === JSON.stringify([K1, K2, K3].sort()), JSON.stringify(kidsOf(set2)));
  r = cli(['list'], keys.security);
  const st3 = r.body && r.body.keys.map((k) => k.state).join(' ');
  t.check('mandate key list (security): pending, current, previous with a retirement time',
    r.status === 0 && st3 === 'pending current previous' && r.body.keys[2].kid === K1 &&
    typeof r.body.keys[2].retires === 'string', r.out + r.err);
  t.check('a K1 token signed before the rotation: check still allows (cached)',
    (await check(a.access_token)).body?.allow === true);
  t.check('a K1 token signed before the rotation: check allows (first use)',
    (await check(b.access_token)).body?.allow === true);
  let i = await introspect(c.access_token);
  t.check('a K1 token signed before the rotation: introspection active', i.active === true, JSON.stringify(i));
  t.check('jose verifies the K1 token and the K3 token against the JWKS',
    (await joseOk(c.access_token, set2)) === true && (await joseOk(d.access_token, set2)) === true);
  t.check('K3 token: check allows', (await check(d.access_token)).body?.allow === true);

  // ---- emergency revocation of K1 (not the signing key) -------------------------------------
  r = cli(['revoke', '--', K1, '--reason', 'drill: K1 leaked'], keys.security);
  t.check('mandate key revoke K1 (security): exit 0, no replacement needed, its 4 live tasks ended',
    r.status === 0 && r.body.revoked === true && !r.body.replaced_by && r.body.tasks_revoked === 4, r.out + r.err);
  const set3 = await jwks();
  t.check('JWKS: K1 gone at once, K3 and K2 remain',
    JSON.stringify(kidsOf(set3)) === JSON.stringify([K2, K3].sort()), JSON.stringify(kidsOf(set3)));
  i = await introspect(c.access_token);
  t.check('K1 token after revocation: introspection inactive', i.active === false, JSON.stringify(i));
  r = await check(c.access_token);
  t.check('K1 token after revocation: check refuses', refused(r), r.text);
  t.check('jose refuses the K1 token against the new JWKS',
    (await joseOk(c.access_token, set3)) === 'ERR_JWKS_NO_MATCHING_KEY');
  t.check('the K3 token still verifies (introspection, check, jose)',
    (await introspect(d.access_token)).active === true && (await check(d.access_token)).body?.allow === true &&
    (await joseOk(d.access_token, set3)) === true);
  r = await check(a.access_token);
  t.check('a K1 token already checked (cached) before the revocation: check refuses',
    refused(r), r.text);
  r = await check(b.access_token);
  t.check('a K1 token used once before the revocation: check refuses', refused(r), r.text);
  r = await check(child.access_token, subKey);
  t.check('the K3 child of a K1 task: ended with its parent (check refuses)', refused(r), r.text);
  i = await introspect(child.access_token);
  t.check('the K3 child of a K1 task: introspection inactive', i.active === false, JSON.stringify(i));

  // ---- revoking the signing key replaces it at once ----------------------------------------
  r = await h.api('POST', `/v1/keys/${K3}/revoke`, { reason: 'drill: K3 leaked' });
  const K4 = r.body && r.body.replaced_by;
  t.check('revoke the current K3: replaced by a new signing key K4, the K3 task ended', r.status === 200 && K4 &&
    ![K1, K2, K3].includes(K4) && r.body.tasks_revoked === 1, r.text);
  await sleep(1100);
  const e = await h.task();
  t.check('new tokens carry K4', kidOf(e.access_token) === K4, kidOf(e.access_token));
  const set4 = await jwks();
  t.check('JWKS: K4 and the pending K2', JSON.stringify(kidsOf(set4)) === JSON.stringify([K2, K4].sort()),
    JSON.stringify(kidsOf(set4)));
  t.check('K3 token refused after its key was revoked', (await introspect(d.access_token)).active === false);
  t.check('K4 token: check allows, jose verifies', (await check(e.access_token)).body?.allow === true &&
    (await joseOk(e.access_token, set4)) === true);

  // ---- audit ------------------------------------------------------------------------------
  const rot = await auditEvents('key.rotate');
  const rev = await auditEvents('key.revoke');
  t.check('audit: four key.rotate (K1 at the first start, K2, K3 on demand, K4 replacing K3)',
    rot.length === 4 && [K1, K2, K3, K4].every((k) => rot.some((x) => x.resource === `key:${k}`)),
    JSON.stringify(rot.map((x) => x.resource)));
  const trev = (await auditEvents('task.revoke')).filter((x) => JSON.stringify(x).includes('signing_key_revoked'));
  const counts = trev.map((x) => `${x.resource}:${(typeof x.detail === 'string' ? JSON.parse(x.detail) : x.detail).tasks}`);
  t.check('audit: one task.revoke record per key revocation (K1: 4 tasks, K3: 1)',
    counts.join(' ') === `key:${K1}:4 key:${K3}:1`, JSON.stringify(counts));
  t.check('audit: two key.revoke with the caller and reason', rev.length === 2 &&
    rev.some((x) => x.resource === `key:${K1}` && JSON.stringify(x.detail).includes('K1 leaked')),
  JSON.stringify(rev));

  // ---- who may -------------------------------------------------------------------------------
  r = await h.api('POST', '/v1/keys/rotate', {}, keys.security);
  t.check('security may not rotate (403)', r.status === 403, r.text);
  r = await h.api('POST', `/v1/keys/${K2}/revoke`, { reason: 'x' }, keys.auditor);
  t.check('auditor may not revoke (403)', r.status === 403, r.text);
  r = await h.api('GET', '/v1/keys', undefined, keys.pep);
  t.check('pep may not list keys (403)', r.status === 403, r.text);
  r = cli(['rotate'], keys.auditor);
  t.check('mandate key rotate with an auditor key: exit 1', r.status === 1, r.out + r.err);

  // ---- bad input ----------------------------------------------------------------------------
  for (const [name, path, body, want] of [
    ['unknown kid', '/v1/keys/nokid/revoke', { reason: 'x' }, 404],
    ['no reason', `/v1/keys/${K2}/revoke`, {}, 400],
    ['reason not a string', `/v1/keys/${K2}/revoke`, { reason: 1 }, 400],
    ['reason too long', `/v1/keys/${K2}/revoke`, { reason: 'x'.repeat(513) }, 400],
    ['negative activation', '/v1/keys/rotate', { activate_in_s: -1 }, 400],
    ['activation past a week', '/v1/keys/rotate', { activate_in_s: 8 * 86400 }, 400],
    ['unknown member', '/v1/keys/rotate', { now: true }, 400],
  ]) {
    r = await h.api('POST', path, body);
    t.check(`${name}: ${want}`, r.status === want, `${r.status} ${r.text}`);
  }
  r = await fetch(`${h.base}/v1/keys/rotate`, { method: 'POST', body: '{"activate_in_s":1,"activate_in_s":2}',
    headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' } });
  t.check('duplicate member: 400', r.status === 400, String(r.status));
  r = cli(['revoke', 'bad/kid', '--reason', 'x']);
  t.check('mandate key revoke with a malformed kid: exit 2', r.status === 2, r.err);
  // a base64url kid may begin with '-' (or '--'): it is a kid, not an option
  r = cli(['revoke', '-NoSuchKid', '--reason', 'x']);
  t.check('mandate key revoke -NoSuchKid: sent, refused by the server (exit 1)', r.status === 1, r.err);
  r = cli(['revoke', '--', '--NoSuchKid', '--reason', 'x']);
  t.check('mandate key revoke -- --NoSuchKid: sent, refused by the server (exit 1)', r.status === 1, r.err);
  t.check('JWKS unchanged by refused requests', JSON.stringify(kidsOf(await jwks())) ===
    JSON.stringify([K2, K4].sort()));

  // ---- a restart keeps the state ------------------------------------------------------------
  await h.restart();
  const set5 = await jwks();
  t.check('after a restart: the same JWKS (revoked keys stay gone, the pending key stays)',
    JSON.stringify(kidsOf(set5)) === JSON.stringify([K2, K4].sort()), JSON.stringify(kidsOf(set5)));
  const f = await h.task();
  t.check('after a restart: tokens carry K4, the K4 token from before verifies', kidOf(f.access_token) === K4 &&
    (await introspect(e.access_token)).active === true);
  t.check('after a restart: the K1 token is still refused', (await introspect(c.access_token)).active === false);

  // ---- pre-publication: a verifier that cached the JWKS before the key signs ----------------
  r = await h.api('POST', '/v1/keys/rotate', { activate_in_s: 2 });
  const K5 = r.body && r.body.kid;
  const cachedSet = await jwks();
  const g0 = await h.task();
  t.check('a key 2 s ahead: in the JWKS at once, tokens still carry K4',
    r.status === 200 && kidsOf(cachedSet).includes(K5) && kidOf(g0.access_token) === K4, r.text);
  await sleep(2100);
  const g = await h.task();
  t.check('2 s later tokens carry K5, and verify against the JWKS cached before K5 signed',
    kidOf(g.access_token) === K5 && (await joseOk(g.access_token, cachedSet)) === true &&
    (await check(g.access_token)).body?.allow === true, kidOf(g.access_token));

  // ---- a replica sharing the store follows rotations and revocations ------------------------
  const rb = await replica();
  try {
    const jwksB = async () => (await fetch(`${rb.base}/.well-known/jwks.json`)).json();
    const introB = async (token) => (await fetch(`${rb.base}/oauth2/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.pep}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    })).json();
    t.check('replica: the same JWKS as the first server',
      JSON.stringify(kidsOf(await jwksB())) === JSON.stringify(kidsOf(await jwks())));
    r = await h.api('POST', '/v1/keys/rotate', {});
    const K6 = r.body && r.body.kid;
    t.check('replica: a key rotated on the first server appears within its tick',
      await until(async () => kidsOf(await jwksB()).includes(K6)));
    await sleep(1100);
    const m = await h.task();
    t.check('replica: a K6 token of the first server: active there, a check allows (cached)',
      kidOf(m.access_token) === K6 && (await introB(m.access_token)).active === true &&
      (await check(m.access_token, h.agentKey, rb.base)).body?.allow === true);
    // a task the replica issues itself (its table caches the token once checked)
    const proof = await h.dpop(h.agentKey, 'POST', `${h.base}/oauth2/token`);
    const saved = h.base;
    h.base = rb.base;
    const xb = await h.exchange({ subject_token: await h.svid(REFUND_BOT), dpop: proof,
      details: { type: 'mandate_task', intent: 'refunds' } });
    h.base = saved;
    const mb = xb.body;
    t.check('replica: its own task token carries K6, a check there allows (cached)', xb.status === 200 &&
      kidOf(mb.access_token) === K6 && (await check(mb.access_token, h.agentKey, rb.base)).body?.allow === true,
    xb.text);
    r = await h.api('POST', `/v1/keys/${K6}/revoke`, { reason: 'drill: replicas' });
    const K7 = r.body && r.body.replaced_by;
    t.check('replica: K6 revoked on the first server leaves the replica\'s JWKS within its tick, K7 joins',
      r.status === 200 && await until(async () => {
        const k = kidsOf(await jwksB());
        return !k.includes(K6) && k.includes(K7);
      }), r.text);
    // one check each: repeated checks would end the task by its call budget (drift)
    await sleep(300);
    t.check('replica: the first server\'s K6 token is refused there too (introspection, check)',
      (await introB(m.access_token)).active === false &&
      refused(await check(m.access_token, h.agentKey, rb.base)));
    r = await check(mb.access_token, h.agentKey, rb.base);
    t.check('replica: its own K6 task, cached in its table, ends there (check refuses)', refused(r), r.text);
  } finally {
    rb.proc.kill('SIGTERM');
  }

  // ---- options ------------------------------------------------------------------------------
  await h.stopServer();
  const bad = spawnSync(bin, ['serve', '--db', h.db, '--kek-file', h.kek, '--listen', '127.0.0.1:0',
    '--signing-key-rotate-days', '1', '--signing-key-prepublish-hours', '24'], { encoding: 'utf8' });
  t.check('serve refuses a pre-publication window as long as the rotation age (exit 2)', bad.status === 2,
    bad.stderr);
} catch (err) {
  t.check('no exception', false, err.stack);
} finally {
  await h.stop();
}
process.exit(t.summary());
