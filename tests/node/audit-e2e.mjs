// audit-e2e.mjs: the tamper-evident, durable audit trail end to end (K2,
// docs/audit.md), against the real server (harness: access-harness.mjs):
//  - crash: a load of checks, `kill -9` in the middle, restart: every check
//    that got an answer has its record, and `mandate audit verify` finds the
//    chain intact (with the signatures of the checkpoints, checked against
//    the server's JWKS);
//  - GET /v1/audit/checkpoints is public and its JWS verify with the JWKS;
//  - a record changed in a copy of the file: verify says which one (exit 1);
//  - `mandate audit export --after N` resumes after N.
// Bounded: about 1.5 s of load.
//
// Usage: node audit-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './access-harness.mjs';

const { bin, jose, t, h } = await setup({ tools: ['sqlite3'] });
const TOOL_URL = 'https://payments.internal.example/v1/refunds';
const refundCall = { tool: 'payments.refund', action: 'create', resource: 'order:42',
  data_labels: ['customer'], downstream: 'payments-api' };
const CKPT = ['--audit-checkpoint-records', '40', '--audit-checkpoint-s', '1'];

function sql(db, query) {
  return execFileSync('sqlite3', [db, query], { encoding: 'utf8' }).trim();
}

function audit(args) {
  const r = spawnSync(bin, ['audit', ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function check(token, key) {
  const dpop = await h.dpop(h.agentKey, 'POST', TOOL_URL, { accessToken: token });
  const r = await fetch(`${h.base}/v1/check`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token, dpop, method: 'POST', url: TOOL_URL, ...refundCall }),
  });
  return { status: r.status, body: await r.json() };
}

try {
  await h.restart(CKPT);
  await h.loadExample();
  const pep = await h.must('POST', '/v1/api-keys', { name: 'k-pep', role: 'pep' });
  const tk = await h.task();

  // ---- crash: kill -9 in the middle of a load of checks ---------------------------------------
  const answered = [];
  let stop = false, errors = 0;
  const worker = async () => {
    while (!stop) {
      try {
        const r = await check(tk.access_token, pep.key);
        if (r.status === 200 && Number.isInteger(r.body.audit_id)) {
          answered.push({ seq: r.body.audit_id, decision: r.body.decision });
        }
      } catch { errors++; }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  await new Promise((r) => setTimeout(r, 1500));
  h.proc.kill('SIGKILL');
  const ex = await h.exited;
  stop = true;
  await Promise.all(workers);
  h.proc = null;
  t.check('the server died of SIGKILL mid-load', ex.sig === 'SIGKILL', JSON.stringify(ex));
  t.check('checks were answered before the kill (> 50)', answered.length > 50, answered.length);
  await h.serve(CKPT);
  const rows = new Map(sql(h.db, "SELECT seq, decision FROM audit WHERE event = 'check'")
    .split('\n').filter(Boolean).map((l) => l.split('|')).map(([s, d]) => [Number(s), d]));
  const missing = answered.filter((a) => rows.get(a.seq) !== a.decision);
  t.check(`every answered check (${answered.length}) has its record after the restart`,
    missing.length === 0, missing.slice(0, 5));

  // ---- checkpoints: public, signed with the JWKS ------------------------------------------------
  await new Promise((r) => setTimeout(r, 1300)); // one checkpoint tick after the restart
  let r = await fetch(`${h.base}/v1/audit/checkpoints`);
  const cps = await r.json();
  t.check('GET /v1/audit/checkpoints: public, 200, items', r.status === 200 &&
    Array.isArray(cps.items) && cps.items.length >= 2, JSON.stringify(cps).slice(0, 300));
  const jwksText = await (await fetch(`${h.base}/.well-known/jwks.json`)).text();
  const jwksFile = join(h.dir, 'jwks.json');
  writeFileSync(jwksFile, jwksText);
  const keyset = jose.createLocalJWKSet(JSON.parse(jwksText));
  let sigOk = 0;
  for (const c of cps.items) {
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(c.jws, keyset);
      if (payload.seq === c.seq && payload.head === c.head &&
        protectedHeader.typ === 'mandate-audit-checkpoint+jwt') sigOk++;
    } catch { /* counted as bad */ }
  }
  t.check('every checkpoint JWS verifies with npm jose against the JWKS, payload = seq, head',
    sigOk === cps.items.length, `${sigOk}/${cps.items.length}`);
  const head = Number(sql(h.db, 'SELECT max(seq) FROM audit'));
  t.check('the last checkpoint is at the head', cps.items[cps.items.length - 1].seq === head,
    `${cps.items[cps.items.length - 1].seq} vs ${head}`);
  r = await h.api('GET', '/v1/audit?limit=2');
  t.check('GET /v1/audit still needs a key (admin: 200)', r.status === 200, r.text);
  const anon = await fetch(`${h.base}/v1/audit`);
  t.check('GET /v1/audit without a key: 401', anon.status === 401, anon.status);

  // ---- verify: intact, then a copy with one record changed ---------------------------------------
  let v = audit(['verify', '--db', h.db, '--jwks', jwksFile]);
  t.check('audit verify after the crash: exit 0, ok, signatures verified',
    v.code === 0 && /^ok: \d+ records/.test(v.out) && !/ 0 signatures/.test(v.out), v.out + v.err);
  const copy = join(h.dir, 'tampered.db');
  await h.stopServer();
  copyFileSync(h.db, copy);
  const victim = answered[Math.floor(answered.length / 2)].seq;
  sql(copy, `UPDATE audit SET decision = 'allow', reasons = '[]' WHERE seq = ${victim}; ` +
    `UPDATE audit SET resource = 'order:43' WHERE seq = ${victim}`);
  v = audit(['verify', '--db', copy, '--jwks', jwksFile]);
  t.check(`a record changed (seq ${victim}): verify exit 1, names record ${victim}`,
    v.code === 1 && v.out.includes(`BROKEN at record ${victim}:`), v.out + v.err);
  v = audit(['verify', '--db', join(h.dir, 'nope.db')]);
  t.check('verify on a missing file: exit 2', v.code === 2, v.out + v.err);

  // ---- export --------------------------------------------------------------------------------------
  const ex1 = audit(['export', '--db', h.db, '--after', String(head - 3)]);
  const lines = ex1.out.trim().split('\n').map((l) => JSON.parse(l));
  t.check('export --after N: JSON lines from N+1 in order with hashes',
    ex1.code === 0 && lines.length >= 3 && lines[0].seq === head - 2 &&
    lines.every((l, i) => i === 0 || l.seq === lines[i - 1].seq + 1) &&
    lines.every((l) => /^[0-9a-f]{64}$/.test(l.hash)), ex1.out.slice(0, 300) + ex1.err);
} catch (err) {
  t.check('no exception', false, `${err.stack}\n${h.stderr}`);
} finally {
  await h.stop();
}
process.exit(t.summary());
