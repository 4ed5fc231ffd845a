// access-harness.mjs: drives a real `mandate serve` for the access-path
// end-to-end tests (access-e2e.mjs; A2's access-check-e2e.mjs reuses it).
//
//   const h = await Harness.start(bin);   // init + serve on a free port, temp store
//   await h.loadExample();                // issuers (keys held here), humans, agents,
//                                         // tools, intents, entitlements, policies
//   const svid = await h.svid('spiffe://corp.example/agents/refund-bot');
//   const r = await h.exchange({ subject_token: svid, details: {...}, dpopKey: h.agentKey });
//   await h.stop();
//
// Workload credentials (JWT-SVIDs), human ID tokens and DPoP proofs are minted
// with npm `jose`.  A test's preamble is one call:
//
//   const { bin, jose, t, h } = await setup();   // or setup({ tools: ['sqlite3'] })
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import net from 'node:net';

export const here = dirname(fileURLToPath(import.meta.url));
export const examples = join(here, '..', '..', 'examples');

export const TD = 'corp.example';
export const REFUND_BOT = 'spiffe://corp.example/agents/refund-bot';
export const RESEARCH = 'spiffe://corp.example/agents/research-agent';
export const RISKY = 'spiffe://corp.example/agents/risky-bot';
export const ORPHAN = 'spiffe://corp.example/agents/orphan-bot';
export const STAGING = 'spiffe://corp.example/agents/staging-bot';
export const GT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TT_ID = 'urn:ietf:params:oauth:token-type:id_token';
export const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

// Reports the test skipped (the two lines run-tests counts) and exits 0.
export function skip(why) {
  console.log(`skipped: ${why}`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}

// The preamble of the tests that drive a server: the binary from argv[2] or
// $MANDATE_BIN; skipped without npm jose, the binary or one of tools (each
// answering `<tool> -version`); then jose, a Results and (unless start is
// false) a started Harness.  Returns { bin, jose, t, h }.
export async function setup({ tools = [], start = true } = {}) {
  const bin = process.argv[2] || process.env.MANDATE_BIN;
  if (!existsSync(join(here, 'node_modules', 'jose'))) {
    skip('tests/node/node_modules/jose not found (run scripts/test-setup)');
  }
  if (!bin || !existsSync(bin)) skip(`mandate binary not found (${bin})`);
  for (const tool of tools) {
    if (spawnSync(tool, ['-version']).status !== 0) skip(`the ${tool} program not found`);
  }
  const jose = await import('jose');
  const t = new Results();
  const h = start ? await Harness.start(bin, jose) : null;
  return { bin, jose, t, h };
}

const now = () => Math.floor(Date.now() / 1000);

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Harness {
  static async start(bin, jose) {
    const h = new Harness();
    h.bin = bin;
    h.jose = jose;
    h.dir = mkdtempSync(join(tmpdir(), 'mandate-access-'));
    h.db = join(h.dir, 'm.db');
    h.kek = join(h.dir, 'kek');
    const init = spawnSync(bin, ['init', '--db', h.db, '--kek-file', h.kek, '--key-only'],
      { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
    h.adminKey = init.stdout.trim();
    h.port = await freePort();
    h.base = `http://127.0.0.1:${h.port}`;
    await h.serve();
    // Keys this test holds: the SPIFFE bundle's signer, a human IdP, agents' DPoP keys.
    h.svidKey = await jose.generateKeyPair('ES256', { extractable: true });
    h.idpKey = await jose.generateKeyPair('ES256', { extractable: true });
    h.agentKey = await jose.generateKeyPair('ES256', { extractable: true });
    h.otherKey = await jose.generateKeyPair('ES256', { extractable: true });
    h.idp = 'http://127.0.0.1:9/idp';
    h.bound = new Map(); // task token -> the key pair it is bound to (see keyOf)
    return h;
  }

  async serve(extra = []) {
    this.proc = spawn(this.bin, ['serve', '--db', this.db, '--kek-file', this.kek,
      '--listen', `127.0.0.1:${this.port}`, '--log-level', 'warn', ...extra],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((res) => this.proc.on('exit', (code, sig) => res({ code, sig })));
    for (let i = 0; i < 100; i++) {
      try {
        const r = await fetch(`${this.base}/readyz`);
        if (r.ok) return;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server did not come up: ${this.stderr}`);
  }

  async restart(extra = []) {
    await this.stopServer();
    await this.serve(extra);
  }

  async stopServer() {
    if (!this.proc) return null;
    this.proc.kill('SIGTERM');
    const r = await this.exited;
    this.proc = null;
    return r;
  }

  async stop() {
    const r = await this.stopServer();
    rmSync(this.dir, { recursive: true, force: true });
    return r;
  }

  // An API call with the admin key (or key); returns { status, body }.
  async api(method, path, body, key = this.adminKey) {
    const r = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: json, text };
  }

  async must(method, path, body) {
    const r = await this.api(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.body;
  }

  async publicJwk(kp, extra = {}) {
    const j = await this.jose.exportJWK(kp.publicKey);
    return { ...j, alg: 'ES256', ...extra };
  }

  // The example registry: issuers whose keys this test holds, and the rest from examples/.
  async loadExample() {
    const svidJwk = await this.publicJwk(this.svidKey, { kid: 'svid-1', use: 'jwt-svid' });
    const idpJwk = await this.publicJwk(this.idpKey, { kid: 'idp-1', use: 'sig' });
    await this.must('POST', '/v1/trust-issuers', {
      id: 'corp-spiffe', kind: 'spiffe', for: 'agents', trust_domain: TD,
      jwks: { keys: [svidJwk] }, audiences: ['mandate'],
    });
    await this.must('POST', '/v1/trust-issuers', {
      id: 'corp-idp', kind: 'oidc', for: 'humans', issuer: this.idp,
      jwks: { keys: [idpJwk] }, audiences: ['mandate'],
    });
    for (const t of [{ id: 'payments' }, { id: 'research' }]) await this.must('POST', '/v1/teams', t);
    for (const hu of [
      { id: 'alice', email: 'alice@corp.example' },
      { id: 'bob', email: 'bob@corp.example' },
      { id: 'carol', email: 'carol@corp.example' },
    ]) await this.must('POST', '/v1/humans', hu);
    for (const t of [
      { id: 'payments.refund', downstream: 'payments-api', sensitivity: 2, group: 'payments' },
      { id: 'orders.read', downstream: 'orders-api', sensitivity: 1, group: 'orders' },
      { id: 'crm.export', downstream: 'crm', sensitivity: 3, group: 'crm' },
      { id: 'web.search', downstream: 'search', sensitivity: 0 },
    ]) await this.must('POST', '/v1/tools', t);
    await this.must('POST', '/v1/intents', {
      id: 'refunds', tools: { 'payments.refund': ['create'], 'orders.read': ['read', 'list'] },
      data_labels: ['customer', 'payment'], max_ttl_s: 600, call_budget: 5, rate_per_min: 60,
      dpop_required: true, on_drift: 'revoke',
    });
    await this.must('POST', '/v1/intents', {
      id: 'research', tools: { 'web.search': ['query'] }, data_labels: ['public', 'pii'],
      max_ttl_s: 300, call_budget: 100, rate_per_min: 600, dpop_required: false, on_drift: 'deny',
    });
    await this.must('POST', '/v1/intents', {
      id: 'crm-export', tools: { 'crm.export': ['export'] }, data_labels: ['customer'],
      max_ttl_s: 300, call_budget: 3, rate_per_min: 10, dpop_required: true,
    });
    const agents = [
      { id: REFUND_BOT, owner: 'alice', team: 'payments', purpose: 'issue refunds',
        environment: 'production', risk_tier: 1, issuer: 'corp-spiffe' },
      { id: RESEARCH, owner: 'bob', team: 'research', purpose: 'summarise filings',
        environment: 'production', risk_tier: 0, issuer: 'corp-spiffe' },
      { id: RISKY, owner: 'alice', purpose: 'experimental', environment: 'production',
        risk_tier: 3, issuer: 'corp-spiffe' },
      { id: ORPHAN, owner: 'carol', purpose: 'owner will leave', environment: 'production',
        risk_tier: 0, issuer: 'corp-spiffe' },
      { id: STAGING, owner: 'alice', purpose: 'staging only', environment: 'staging',
        risk_tier: 0, issuer: 'corp-spiffe' },
    ];
    for (const a of agents) await this.must('POST', '/v1/agents', a);
    const ent = [[REFUND_BOT, 'refunds'], [REFUND_BOT, 'crm-export'], [RESEARCH, 'research'],
      [RISKY, 'refunds'], [ORPHAN, 'research'], [STAGING, 'research']];
    for (const [a, i] of ent) await this.must('POST', `/v1/agents/${a}/entitlements`, { intent: i });
    this.goodPolicy = await this.activatePolicy(readFileSync(join(examples, 'policies.cedar'), 'utf8'));
  }

  async activatePolicy(cedar, schema = readFileSync(join(examples, 'schema.cedarschema'), 'utf8')) {
    const p = await this.must('POST', '/v1/policies', { cedar, schema, activate: true });
    return p.version;
  }

  // A JWT-SVID for spiffeId signed by key (default: the trusted bundle key).
  async svid(spiffeId, { key = this.svidKey, kid = 'svid-1', aud = 'mandate', exp = now() + 300,
    alg = 'ES256', iat = now() } = {}) {
    return new this.jose.SignJWT({})
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setSubject(spiffeId).setAudience(aud).setIssuedAt(iat).setExpirationTime(exp)
      .sign(key.privateKey);
  }

  async idToken(human, { key = this.idpKey, aud = 'mandate', iss = this.idp } = {}) {
    return new this.jose.SignJWT({ email: `${human}@corp.example` })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'JWT' })
      .setIssuer(iss).setSubject(human).setAudience(aud).setIssuedAt().setExpirationTime('5m')
      .sign(key.privateKey);
  }

  // A DPoP proof for method/url by key (a jose key pair), optional access token (ath).
  async dpop(key, method, url, { accessToken, jti = randomUUID(), iat = now() } = {}) {
    const jwk = await this.jose.exportJWK(key.publicKey);
    const claims = { htm: method, htu: url, jti, iat };
    if (accessToken) {
      const { createHash } = await import('node:crypto');
      claims.ath = createHash('sha256').update(accessToken).digest('base64url');
    }
    return new this.jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
      .sign(key.privateKey);
  }

  async thumbprint(key) {
    return this.jose.calculateJwkThumbprint(await this.jose.exportJWK(key.publicKey));
  }

  // POST /oauth2/token.  params: raw form fields; details: the mandate_task
  // (or an array); dpopKey: add a proof; dpop: a given proof header.
  async exchange({ subject_token, subject_token_type = TT_JWT, actor_token, actor_token_type,
    details, dpopKey, dpop, params, rawBody, contentType } = {}) {
    const form = new URLSearchParams();
    if (params) {
      for (const [k, v] of params) form.append(k, v);
    } else {
      form.append('grant_type', GT);
      if (subject_token !== undefined) form.append('subject_token', subject_token);
      if (subject_token_type !== undefined) form.append('subject_token_type', subject_token_type);
      if (actor_token !== undefined) {
        form.append('actor_token', actor_token);
        form.append('actor_token_type', actor_token_type || TT_JWT);
      }
      if (details !== undefined) {
        form.append('authorization_details',
          typeof details === 'string' ? details : JSON.stringify(Array.isArray(details) ? details : [details]));
      }
    }
    const headers = { 'content-type': contentType || 'application/x-www-form-urlencoded' };
    if (dpopKey) headers.dpop = await this.dpop(dpopKey, 'POST', `${this.base}/oauth2/token`);
    if (dpop) headers.dpop = dpop;
    const r = await fetch(`${this.base}/oauth2/token`, {
      method: 'POST', headers, body: rawBody !== undefined ? rawBody : form.toString(),
    });
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body, text, headers: r.headers };
  }

  // A task token for agent/intent (default: refund bot, refunds, DPoP-bound to agentKey).
  async task({ agent = REFUND_BOT, details = { type: 'mandate_task', intent: 'refunds' },
    dpopKey = this.agentKey } = {}) {
    const r = await this.exchange({ subject_token: await this.svid(agent), details, dpopKey });
    if (r.status !== 200) throw new Error(`exchange failed: ${r.status} ${r.text}`);
    return r.body;
  }

  // POST /v1/check with key (an enforcement point's API key): the call
  // (tool, action, ...) at url, with a DPoP proof by proofKey (ath = token);
  // base: another server's.  Returns { status, body, text }.
  async check(token, call, proofKey, { key, url, base = this.base } = {}) {
    const p = await this.dpop(proofKey, 'POST', url, { accessToken: token });
    const r = await fetch(`${base}/v1/check`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token, dpop: p, method: 'POST', url, ...call }),
    });
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body, text };
  }

  // The key pair a task token is bound to: a delegated child's key as
  // delegate() recorded it, else the agent key the tests' roots use.
  keyOf(token) {
    return this.bound.get(token) || this.agentKey;
  }

  // Delegates parent (a task token bound to parentKey) to agent, the child to
  // be bound to childKey (RFC 8693 with the parent token as subject_token,
  // docs/delegation.md): the DPoP proof is by the parent's key with ath =
  // hash(parent token), the child key's thumbprint goes in dpop_jkt.  details
  // go over { type: 'mandate_task', intent: 'refunds' }.  opts, for the attack
  // cases: proofKey (sign the proof with this key instead), noProof, dpop (a
  // given proof header), jkt (a given dpop_jkt; null: none).  A child issued
  // with a dpop_jkt is recorded as bound to childKey (keyOf).
  async delegate(parent, parentKey, agent, childKey, details = {},
    { proofKey, noProof, dpop, jkt } = {}) {
    const params = [['grant_type', GT], ['subject_token', parent], ['subject_token_type', TT_ACCESS],
      ['actor_token', await this.svid(agent)], ['actor_token_type', TT_JWT],
      ['authorization_details', JSON.stringify([{ type: 'mandate_task', intent: 'refunds', ...details }])]];
    const j = jkt !== undefined ? jkt : await this.thumbprint(childKey);
    if (j !== null) params.push(['dpop_jkt', j]);
    const proof = noProof ? undefined : dpop ||
      await this.dpop(proofKey || parentKey, 'POST', `${this.base}/oauth2/token`, { accessToken: parent });
    const r = await this.exchange({ params, dpop: proof });
    if (r.status === 200 && j !== null) this.bound.set(r.body.access_token, childKey);
    return r;
  }
}

// A tiny test runner printing "N passed, N failed".
export class Results {
  constructor() { this.passed = 0; this.failed = 0; }
  check(name, ok, detail = '') {
    if (ok) { this.passed++; console.log(`ok   ${name}`); } else {
      this.failed++;
      console.log(`FAIL ${name} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
    }
  }
  summary() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 ? 0 : 1;
  }
}
