// perf-e2e.mjs: what the fast check path must not weaken, end to end against
// the real server (harness: access-harness.mjs):
//  - the API key cache: a revoked key, or the key of an offboarded human,
//    fails on the very next request, even right after a burst that warmed
//    the cache;
//  - durability: when a check's answer arrives, its audit record (and an
//    allowed call's counter) is already in the store file, read by another
//    process (the sqlite3 program), in the default sync mode and in async;
//  - `serve --audit-durability` refuses anything but sync and async.
//
// Usage: node perf-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { execFileSync, spawnSync } from 'node:child_process';
import { setup } from './access-harness.mjs';

const { bin, t, h } = await setup({ tools: ['sqlite3'] });
const TOOL_URL = 'https://payments.internal.example/v1/refunds';
const refundCall = { tool: 'payments.refund', action: 'create', resource: 'order:42',
  data_labels: ['customer'], downstream: 'payments-api' };

// The store as another process sees it.
function sql(query) {
  return execFileSync('sqlite3', ['-readonly', h.db, query], { encoding: 'utf8' }).trim();
}

async function check(token, key, { proofKey = h.agentKey } = {}) {
  const dpop = await h.dpop(proofKey, 'POST', TOOL_URL, { accessToken: token });
  const r = await fetch(`${h.base}/v1/check`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token, dpop, method: 'POST', url: TOOL_URL, ...refundCall }),
  });
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body, text };
}

// n checks at once; for each answer, the store is read the moment it arrives.
async function checksDurable(token, key, n) {
  const seen = await Promise.all(Array.from({ length: n }, async () => {
    const r = await check(token, key);
    const id = r.body && r.body.audit_id;
    const row = Number.isInteger(id) ? sql(`SELECT event, decision, task FROM audit WHERE seq = ${id}`) : '';
    return { r, row };
  }));
  const bad = seen.filter(({ r, row }) => r.status !== 200 ||
    row !== `check|${r.body.decision}|${r.body.task}`);
  const allows = seen.filter(({ r }) => r.body && r.body.decision === 'allow').length;
  return { bad, allows };
}

try {
  await h.loadExample();
  const keys = {};
  for (const [name, role, subject] of [['pep', 'pep'], ['pep2', 'pep'], ['security', 'security'],
    ['auditor', 'auditor']]) {
    keys[name] = await h.must('POST', '/v1/api-keys', { name: `k-${name}`, role, ...(subject ? { subject } : {}) });
  }

  // ---- the API key cache ------------------------------------------------------------------
  const pep = keys.pep;
  const warm = await Promise.all(Array.from({ length: 20 }, () => h.api('GET', '/v1/tasks', undefined, pep.key)));
  t.check('a live pep key works (20 requests at once: the cache is warm)',
    warm.every((r) => r.status === 403 || r.status === 200), warm.map((r) => r.status).join(','));
  let r = await h.api('POST', `/v1/api-keys/${pep.id}/revoke`, undefined, keys.auditor.key);
  t.check('an auditor may not revoke a key', r.status === 403, r.text);
  r = await h.api('POST', `/v1/api-keys/${pep.id}/revoke`);
  t.check('admin revokes the pep key', r.status === 200 && r.body.revoked === true && r.body.id === pep.id, r.text);
  const after = await Promise.all(Array.from({ length: 20 }, () => h.api('GET', '/v1/tasks', undefined, pep.key)));
  t.check('the revoked key fails on the very next requests (401, 20 of 20)',
    after.every((x) => x.status === 401), after.map((x) => x.status).join(','));
  r = await h.api('POST', `/v1/api-keys/${pep.id}/revoke`);
  t.check('revoking it again: 404', r.status === 404, r.text);
  r = await h.api('POST', '/v1/api-keys/000000000000/revoke');
  t.check('revoking an unknown key: 404', r.status === 404, r.text);
  r = await h.api('POST', '/v1/api-keys/not-hex/revoke');
  t.check('revoking a malformed id: 404', r.status === 404, r.text);
  const audit = sql(`SELECT count(*) FROM audit WHERE event = 'apikey.revoke' AND resource = 'apikey:${pep.id}'`);
  t.check('the revocation is audited once', audit === '1', audit);
  t.check('the store says revoked', sql(`SELECT revoked_ms > 0 FROM api_keys WHERE id = '${pep.id}'`) === '1');

  await h.must('POST', '/v1/humans', { id: 'dana', email: 'dana@example.com' });
  const dana = await h.must('POST', '/v1/api-keys', { name: 'k-dana', role: 'owner', subject: 'dana' });
  r = await h.api('GET', '/v1/agents', undefined, dana.key);
  const r2 = await h.api('GET', '/v1/agents', undefined, dana.key);
  t.check("dana's owner key works (twice: cached)", r.status === 200 && r2.status === 200, r.text);
  r = await h.api('POST', '/v1/humans/dana/offboard', { reason: 'left' }, keys.security.key);
  t.check('security offboards dana', r.status === 200, r.text);
  r = await h.api('GET', '/v1/agents', undefined, dana.key);
  t.check("dana's key fails on the very next request", r.status === 401, r.text);
  r = await h.api('POST', `/v1/api-keys/${keys.pep2.id}/revoke`, undefined, keys.security.key);
  t.check('security may revoke a key too', r.status === 200, r.text);
  r = await h.api('GET', '/v1/tasks', undefined, keys.pep2.key);
  t.check('... and it fails at once', r.status === 401, r.text);

  // ---- durability: the record is in the store when the answer arrives ----------------------
  const pep3 = await h.must('POST', '/v1/api-keys', { name: 'k-pep3', role: 'pep' });
  let tk = await h.task();
  let d = await checksDurable(tk.access_token, pep3.key, 24);
  t.check('sync (default): each of 24 concurrent checks finds its audit record in the file',
    d.bad.length === 0, d.bad.slice(0, 3).map((x) => [x.r.text, x.row]));
  let calls = sql(`SELECT calls FROM tasks WHERE id = '${tk.task}'`);
  t.check("sync: the task's call counter in the file counts the allowed calls",
    d.allows > 0 && calls === String(d.allows), `${calls} vs ${d.allows}`);

  await h.restart(['--audit-durability', 'async']);
  tk = await h.task();
  d = await checksDurable(tk.access_token, pep3.key, 24);
  t.check('async: answers still come after the commit (records in the file)',
    d.bad.length === 0, d.bad.slice(0, 3).map((x) => [x.r.text, x.row]));
  calls = sql(`SELECT calls FROM tasks WHERE id = '${tk.task}'`);
  t.check('async: the call counter too', d.allows > 0 && calls === String(d.allows), `${calls} vs ${d.allows}`);
  r = await h.api('GET', '/v1/tasks', undefined, pep.key);
  t.check('after a restart the revoked key still fails', r.status === 401, r.text);

  await h.stopServer();
  const bad = spawnSync(bin, ['serve', '--db', h.db, '--kek-file', h.kek, '--listen', '127.0.0.1:0',
    '--audit-durability', 'maybe'], { encoding: 'utf8', timeout: 10000 });
  t.check('--audit-durability maybe: refused', bad.status !== 0 && /audit-durability/.test(bad.stderr),
    `${bad.status} ${bad.stderr}`);
} catch (err) {
  t.check('no exception', false, `${err.stack}\n${h.stderr}`);
} finally {
  await h.stop();
}
process.exit(t.summary());
