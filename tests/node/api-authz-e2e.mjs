// api-authz-e2e.mjs: the broker's own API authorised with Cedar
// (policies/api.cedar): every role against every authenticated endpoint
// over HTTP (403 where it may not act; 404 for an owner and an agent it does
// not own), no route without an API action, a bad policy file refusing to
// start, and a policy directory given with --api-policies deciding (one that
// errors denies).
//
// Usage: node api-authz-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, Harness, here, REFUND_BOT } from './access-harness.mjs';

const { bin, jose, t } = await setup({ start: false });
const policies = join(here, '..', '..', 'policies');
const ROLES = ['admin', 'security', 'auditor', 'pep', 'alice', 'bob'];
const READERS = ['admin', 'security', 'auditor', 'alice', 'bob'];
const NOBODY_AGENT = 'spiffe://corp.example/agents/nobody';

// Every authenticated endpoint, with a body that changes nothing (invalid or
// naming nothing), and who may use it.  own: the route names REFUND_BOT
// (alice's): bob, an owner but not its owner, gets 404 where owners may act.
const RB = REFUND_BOT;
const endpoints = [
  ['GET', '/v1/humans', null, READERS],
  ['POST', '/v1/humans', {}, ['admin']],
  ['GET', '/v1/humans/alice', null, READERS],
  ['DELETE', '/v1/humans/nobody', null, ['admin']],
  ['POST', '/v1/humans/nobody/offboard', {}, ['admin', 'security']],
  ['GET', '/v1/teams', null, READERS],
  ['POST', '/v1/teams', {}, ['admin']],
  ['GET', '/v1/teams/payments', null, READERS],
  ['DELETE', '/v1/teams/nobody', null, ['admin']],
  ['GET', '/v1/trust-issuers', null, READERS],
  ['POST', '/v1/trust-issuers', {}, ['admin']],
  ['GET', '/v1/trust-issuers/corp-spiffe', null, READERS],
  ['DELETE', '/v1/trust-issuers/nobody', null, ['admin']],
  ['GET', '/v1/tools', null, READERS],
  ['POST', '/v1/tools', {}, ['admin']],
  ['GET', '/v1/tools/web.search', null, READERS],
  ['DELETE', '/v1/tools/nobody', null, ['admin']],
  ['GET', '/v1/intents', null, READERS],
  ['POST', '/v1/intents', {}, ['admin']],
  ['GET', '/v1/intents/refunds', null, READERS],
  ['PATCH', '/v1/intents/nobody', { call_budget: 1 }, ['admin']],
  ['DELETE', '/v1/intents/nobody', null, ['admin']],
  ['GET', '/v1/agents', null, READERS],
  ['POST', '/v1/agents', {}, ['admin']],
  ['GET', `/v1/agents/${RB}`, null, READERS, 'own'],
  ['PATCH', `/v1/agents/${RB}`, { risk_tier: 'x' }, ['admin']],
  ['DELETE', `/v1/agents/${NOBODY_AGENT}`, null, ['admin', 'alice', 'bob'], 'own'],
  ['POST', `/v1/agents/${RB}/status`, { status: 'bogus' }, ['admin', 'security', 'alice', 'bob'], 'own'],
  ['GET', `/v1/agents/${RB}/entitlements`, null, READERS, 'own'],
  ['POST', `/v1/agents/${RB}/entitlements`, { intent: 'nobody' }, ['admin']],
  ['DELETE', `/v1/agents/${RB}/entitlements/nobody`, null, ['admin', 'security', 'alice', 'bob'], 'own'],
  ['POST', '/v1/api-keys', {}, ['admin']],
  ['GET', '/v1/policies', null, READERS],
  ['POST', '/v1/policies', {}, ['admin']],
  ['GET', '/v1/policies/active', null, READERS],
  ['GET', '/v1/policies/1', null, READERS],
  ['POST', '/v1/policies/999/activate', null, ['admin']],
  ['GET', '/v1/audit?limit=1', null, READERS],
  ['GET', '/v1/audit/trace/tsk_nobody', null, READERS],
  ['POST', '/v1/check', {}, ['pep']],
  ['GET', '/v1/tasks', null, READERS],
  ['GET', '/v1/tasks/tsk_nobody', null, READERS],
  ['POST', '/v1/tasks/tsk_nobody/revoke', {}, ['admin', 'security', 'alice', 'bob']],
  ['GET', '/v1/keys', null, ['admin', 'security', 'auditor']],
  ['POST', '/v1/keys/rotate', { activate_in_s: -1 }, ['admin']],
  ['POST', '/v1/keys/nokid/revoke', {}, ['admin', 'security']],
];

async function call(h, method, path, body, key, form) {
  const headers = { authorization: `Bearer ${key}` };
  let b;
  if (form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    b = form;
  } else if (body !== null && body !== undefined) {
    headers['content-type'] = 'application/json';
    b = JSON.stringify(body);
  }
  const r = await fetch(h.base + path, { method, headers, body: b });
  const text = await r.text();
  return { status: r.status, text };
}

async function keys(h) {
  const k = { admin: h.adminKey };
  for (const [name, role, subject] of [['security', 'security'], ['auditor', 'auditor'],
    ['pep', 'pep'], ['alice', 'owner', 'alice'], ['bob', 'owner', 'bob']]) {
    k[name] = (await h.must('POST', '/v1/api-keys', { name: `k-${name}`, role, ...(subject ? { subject } : {}) })).key;
  }
  return k;
}

let h = null;
const dir = mkdtempSync(join(tmpdir(), 'mandate-apiauthz-'));
try {
  h = await Harness.start(bin, jose);
  await h.loadExample();
  const k = await keys(h);

  // The matrix.
  let n = 0;
  for (const [method, path, body, allowed, own] of endpoints) {
    for (const role of ROLES) {
      const r = await call(h, method, path, body, k[role]);
      const may = allowed.includes(role);
      let ok, want;
      if (may && own && role === 'bob') {
        want = '404'; ok = r.status === 404;
      } else if (may) {
        want = 'not 401/403'; ok = r.status !== 403 && r.status !== 401 && r.status < 500;
      } else {
        want = '403'; ok = r.status === 403;
      }
      n++;
      if (ok) t.passed++; /* one pass per case, printed as a total below */
      else t.check(`${role} ${method} ${path}: ${want}`, false, `${r.status} ${r.text}`);
    }
  }
  t.check(`matrix: ${n} role x endpoint cases ran`, n === endpoints.length * ROLES.length);
  // Introspection (form) and the owner's own delete.
  for (const role of ROLES) {
    const r = await call(h, 'POST', '/oauth2/introspect', undefined, k[role], 'token=x');
    const may = ['admin', 'security', 'pep'].includes(role);
    t.check(`${role} introspect: ${may ? 200 : 403}`, r.status === (may ? 200 : 403), `${r.status} ${r.text}`);
  }
  await h.must('POST', '/v1/agents', { id: 'spiffe://corp.example/agents/del-me', owner: 'alice',
    purpose: 'to be deleted', environment: 'production' });
  let r = await call(h, 'DELETE', '/v1/agents/spiffe://corp.example/agents/del-me', null, k.bob);
  t.check('owner deletes another owner\'s agent: 404', r.status === 404, `${r.status} ${r.text}`);
  r = await call(h, 'DELETE', '/v1/agents/spiffe://corp.example/agents/del-me', null, k.alice);
  t.check('owner deletes its own agent: 204', r.status === 204, `${r.status} ${r.text}`);
  r = await call(h, 'GET', `/v1/agents/${NOBODY_AGENT}`, null, k.alice);
  t.check('owner and an agent that does not exist: 404', r.status === 404, `${r.status} ${r.text}`);
  // A policy refusal (not a role one) is on the trail with reason "policy".
  r = await call(h, 'POST', '/v1/api-keys/nobody/revoke', {}, k.auditor);
  const audit = await h.must('GET', '/v1/audit?limit=1000');
  t.check('refusals are on the trail', (audit.items || []).some((x) => x.event === 'request.refused'),
    JSON.stringify((audit.items || []).slice(-2)));
  t.check('no route without an API action', !/api_policies_unmapped/.test(h.stderr), h.stderr);

  // --api-policies: a directory that does not compile refuses to start.
  await h.stopServer();
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'api.cedar'), readFileSync(join(policies, 'api.cedar'), 'utf8') + '\npermit (principal, action\n');
  writeFileSync(join(bad, 'api.cedarschema'), readFileSync(join(policies, 'api.cedarschema'), 'utf8'));
  const s = spawnSync(bin, ['serve', '--db', h.db, '--kek-file', h.kek, '--listen', `127.0.0.1:${h.port}`,
    '--api-policies', bad], { encoding: 'utf8', timeout: 10000 });
  t.check('a bad api.cedar refuses to start (file:line:col)', s.status !== 0 && /api\.cedar:\d+:\d+:/.test(s.stderr),
    `${s.status} ${s.stderr}`);
  writeFileSync(join(bad, 'api.cedar'), readFileSync(join(policies, 'api.cedar'), 'utf8'));
  writeFileSync(join(bad, 'api.cedarschema'), 'namespace MandateApi { entity ');
  const s2 = spawnSync(bin, ['serve', '--db', h.db, '--kek-file', h.kek, '--listen', `127.0.0.1:${h.port}`,
    '--api-policies', bad], { encoding: 'utf8', timeout: 10000 });
  t.check('a bad api.cedarschema refuses to start', s2.status !== 0 && /api\.cedarschema/.test(s2.stderr),
    `${s2.status} ${s2.stderr}`);

  // A directory whose policies differ: Cedar is the second gate.  No pep
  // permit, and an auditor permit that errors (Endpoint has no owner): both
  // denied though the role masks let them through.
  const alt = join(dir, 'alt');
  mkdirSync(alt);
  const base = readFileSync(join(policies, 'api.cedar'), 'utf8')
    .replace(/@id\("api-pep"\)[\s\S]*?\);\n/, '')
    .replace(/@id\("api-auditor"\)[\s\S]*?\);\n/, '@id("api-auditor-errs")\npermit (principal in MandateApi::Role::"auditor", action, resource) when { resource.owner == "x" };\n');
  writeFileSync(join(alt, 'api.cedar'), base);
  writeFileSync(join(alt, 'api.cedarschema'), readFileSync(join(policies, 'api.cedarschema'), 'utf8'));
  await h.serve(['--api-policies', alt]);
  r = await call(h, 'POST', '/v1/check', {}, k.pep);
  t.check('--api-policies without the pep permit: pep /v1/check 403', r.status === 403 && /API policy/.test(r.text), `${r.status} ${r.text}`);
  r = await call(h, 'GET', '/v1/audit?limit=1', null, k.auditor);
  t.check('a policy that errors denies (auditor /v1/audit 403)', r.status === 403, `${r.status} ${r.text}`);
  r = await call(h, 'GET', '/v1/audit?limit=1', null, k.security);
  t.check('the rest still decides (security /v1/audit 200)', r.status === 200, `${r.status} ${r.text}`);
  // Under ASan/LSan the server reports leaks and errors on its stderr at exit.
  await h.stopServer();
  t.check('the server exits clean (no sanitizer report)',
    !/AddressSanitizer|LeakSanitizer|runtime error/.test(h.stderr), h.stderr.slice(-2000));
} catch (err) {
  t.check('api authz e2e ran', false, String(err && err.stack || err));
} finally {
  if (h) await h.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(t.summary());
