// access-check-e2e.mjs: the request-time check, the task lifecycle,
// introspection and revocation end to end against the real server, with
// workload credentials and DPoP proofs minted by npm `jose` (harness:
// access-harness.mjs).
//
// Usage: node access-check-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).

import { setup, REFUND_BOT, RESEARCH } from './access-harness.mjs';

const { t, h } = await setup();
const TOOL_URL = 'https://payments.internal.example/v1/refunds';
const refunds = { type: 'mandate_task', intent: 'refunds' };
const research = { type: 'mandate_task', intent: 'research', data_labels: ['public'] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let keys = {};

// POST /v1/check as the pep (or key).  call: {tool, action, ...}; proof: a
// DPoP proof, or a key to make one for TOOL_URL; opts.raw: a raw body.
async function check(token, call, { proofKey = h.agentKey, proof, key = keys.pep, method = 'POST',
  url = TOOL_URL, raw, noProof = false } = {}) {
  let body;
  if (raw !== undefined) {
    body = raw;
  } else {
    const p = noProof ? undefined
      : proof || (proofKey && await h.dpop(proofKey, method, url, { accessToken: token }));
    body = JSON.stringify({ token, ...(p ? { dpop: p } : {}), method, url, ...call });
  }
  const r = await fetch(`${h.base}/v1/check`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: json, text };
}

async function form(path, params, key) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(h.base + path, { method: 'POST', headers,
    body: new URLSearchParams(params).toString() });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: json, text };
}

async function complete(task, token, { proofKey = h.agentKey, scheme = 'DPoP' } = {}) {
  const url = `${h.base}/v1/tasks/${task}/complete`;
  const headers = { authorization: `${scheme} ${token}` };
  if (proofKey) headers.dpop = await h.dpop(proofKey, 'POST', url, { accessToken: token });
  const r = await fetch(url, { method: 'POST', headers });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: json, text };
}

const allowed = (r) => r.status === 200 && r.body && r.body.decision === 'allow' && r.body.allow === true;
const denied = (r, reason) => r.status === 200 && r.body && r.body.decision === 'deny' &&
  (reason === undefined || r.body.reasons.includes(reason));
const refundCall = { tool: 'payments.refund', action: 'create', resource: 'order:42',
  data_labels: ['customer'], downstream: 'payments-api' };

try {
  await h.loadExample();
  for (const [name, role, subject] of [['pep', 'pep'], ['auditor', 'auditor'],
    ['security', 'security'], ['alice', 'owner', 'alice'], ['bob', 'owner', 'bob']]) {
    const k = await h.must('POST', '/v1/api-keys', { name: `k-${name}`, role, ...(subject ? { subject } : {}) });
    keys[name] = k.key;
  }
  keys.admin = h.adminKey;
  await h.must('POST', '/v1/intents', {
    id: 'slow', tools: { 'web.search': ['query'] }, data_labels: ['public'], max_ttl_s: 300,
    call_budget: 100, rate_per_min: 2, dpop_required: false, on_drift: 'deny',
  });
  await h.must('POST', `/v1/agents/${RESEARCH}/entitlements`, { intent: 'slow' });

  // ---- allowed calls, cache, history ---------------------------------------------------
  let tk = await h.task();
  let r = await check(tk.access_token, refundCall);
  t.check('allowed call: allow', allowed(r), r.text);
  t.check('allowed call: names the task, an audit record and the policy version',
    r.body && r.body.task === tk.task && r.body.audit_id > 0 && r.body.policy_version > 0 &&
    r.body.reasons.includes('call-tool') && r.body.task_state === 'active', r.text);
  const auditId = r.body && r.body.audit_id;
  r = await check(tk.access_token, { tool: 'orders.read', action: 'list' });
  t.check('second call (cached token), another granted tool: allow', allowed(r), r.text);
  const rec = await h.api('GET', `/v1/audit?after=${auditId - 1}&limit=1`);
  const a0 = rec.body && rec.body.items && rec.body.items[0];
  t.check('audit record of the check: event, decision, task, tool, data labels',
    a0 && a0.seq === auditId && a0.event === 'check' && a0.decision === 'allow' &&
    a0.task === tk.task && a0.tool === 'payments.refund' && a0.agent === REFUND_BOT &&
    JSON.stringify(a0.data_labels) === '["customer"]', rec.text);
  r = await h.api('GET', `/v1/tasks/${tk.task}`);
  t.check('task shows calls and history', r.status === 200 && r.body.calls === 2 &&
    r.body.history && r.body.history.previous_tool === 'orders.read' &&
    r.body.history.tools.length === 2, r.text);

  // ---- DPoP ------------------------------------------------------------------------------
  const proof = await h.dpop(h.agentKey, 'POST', TOOL_URL, { accessToken: tk.access_token });
  r = await check(tk.access_token, refundCall, { proof });
  t.check('fresh proof: allow', allowed(r), r.text);
  r = await check(tk.access_token, refundCall, { proof });
  t.check('DPoP proof replayed: deny dpop_replay', denied(r, 'dpop_replay'), r.text);
  t.check('replayed proof is not drift: task stays active', r.body && r.body.task_state === 'active' &&
    !r.body.revoked, r.text);
  r = await check(tk.access_token, refundCall, { noProof: true });
  t.check('DPoP-bound token without a proof: deny dpop_missing', denied(r, 'dpop_missing'), r.text);
  r = await check(tk.access_token, refundCall, { url: 'https://elsewhere.example/x',
    proof: await h.dpop(h.agentKey, 'POST', TOOL_URL, { accessToken: tk.access_token }) });
  t.check('proof for another URL: deny dpop_htu', denied(r, 'dpop_htu'), r.text);
  r = await check(tk.access_token, refundCall, { method: 'GET',
    proof: await h.dpop(h.agentKey, 'POST', TOOL_URL, { accessToken: tk.access_token }) });
  t.check('proof for another method: deny dpop_htm', denied(r, 'dpop_htm'), r.text);
  r = await check(tk.access_token, refundCall,
    { proof: await h.dpop(h.agentKey, 'POST', TOOL_URL, { accessToken: 'another-token' }) });
  t.check('proof for another token (ath): deny dpop_ath', denied(r, 'dpop_ath'), r.text);
  r = await check(tk.access_token, refundCall, { proofKey: h.otherKey });
  t.check('token replayed with another key: deny another_key', denied(r, 'another_key'), r.text);
  t.check('another key is drift: the task is revoked (intent says revoke)',
    r.body && r.body.revoked === true && r.body.task_state === 'revoked', r.text);
  r = await check(tk.access_token, refundCall);
  t.check('after that, the right key is refused too', denied(r, 'task_ended'), r.text);

  // ---- drift, each kind (refunds: revoke) ------------------------------------------------
  for (const [name, call, code] of [
    ['tool outside the scope', { tool: 'web.search', action: 'query' }, 'tool_not_granted'],
    ['action outside the scope', { tool: 'payments.refund', action: 'delete' }, 'action_not_granted'],
    ['data label outside the scope', { tool: 'payments.refund', action: 'create', data_labels: ['health'] },
      'data_label_not_granted'],
    ['downstream outside the scope', { tool: 'payments.refund', action: 'create', downstream: 'crm' },
      'downstream_not_granted'],
    ['unknown tool', { tool: 'no.such.tool', action: 'x' }, 'tool_not_granted'],
  ]) {
    tk = await h.task();
    r = await check(tk.access_token, call);
    t.check(`drift: ${name}: deny ${code}`, denied(r, code), r.text);
    t.check(`drift: ${name}: task revoked before the answer`, r.body && r.body.revoked === true &&
      r.body.reasons.includes('task_revoked'), r.text);
    r = await check(tk.access_token, refundCall);
    t.check(`drift: ${name}: next good call refused`, denied(r, 'task_ended'), r.text);
  }

  // ---- drift with on_drift deny (research, bearer) -----------------------------------------
  tk = await h.task({ agent: RESEARCH, details: research, dpopKey: null });
  t.check('bearer task for research', tk.token_type === 'Bearer', JSON.stringify(tk));
  r = await check(tk.access_token, { tool: 'web.search', action: 'query', data_labels: ['public'] },
    { noProof: true });
  t.check('bearer task: allowed call without a proof', allowed(r), r.text);
  r = await check(tk.access_token, { tool: 'payments.refund', action: 'create' }, { noProof: true });
  t.check('on_drift deny: drift denied', denied(r, 'tool_not_granted'), r.text);
  t.check('on_drift deny: task not revoked', r.body && !r.body.revoked && r.body.task_state === 'active', r.text);
  r = await check(tk.access_token, { tool: 'web.search', action: 'query' }, { noProof: true });
  t.check('on_drift deny: next good call allowed', allowed(r), r.text);
  r = await check(tk.access_token, { tool: 'web.search', action: 'query', data_labels: ['pii'] },
    { noProof: true });
  t.check('label of the intent but not granted to the task: deny', denied(r, 'data_label_not_granted'), r.text);

  // ---- budget ------------------------------------------------------------------------------
  tk = await h.task();
  let okCount = 0;
  for (let i = 0; i < 5; i++) if (allowed(await check(tk.access_token, refundCall))) okCount++;
  t.check('budget: 5 calls of a budget of 5 allowed', okCount === 5, `${okCount}`);
  r = await check(tk.access_token, refundCall);
  t.check('budget exhausted: deny budget_exhausted and revoke', denied(r, 'budget_exhausted') &&
    r.body.revoked === true, r.text);

  // ---- rate ---------------------------------------------------------------------------------
  tk = await h.task({ agent: RESEARCH, details: { type: 'mandate_task', intent: 'slow' }, dpopKey: null });
  const q = { tool: 'web.search', action: 'query' };
  const r1 = await check(tk.access_token, q, { noProof: true });
  const r2 = await check(tk.access_token, q, { noProof: true });
  const r3 = await check(tk.access_token, q, { noProof: true });
  t.check('rate 2/min: two calls allowed', allowed(r1) && allowed(r2), `${r1.text} ${r2.text}`);
  t.check('rate 2/min: third call rate_exceeded', denied(r3, 'rate_exceeded'), r3.text);
  t.check('rate (deny intent): task stays active', r3.body && r3.body.task_state === 'active', r3.text);
  r = await h.api('GET', `/v1/tasks/${tk.task}`);
  t.check('denied calls do not count', r.body && r.body.calls === 2, r.text);

  // ---- complete ------------------------------------------------------------------------------
  tk = await h.task();
  r = await complete(tk.task, tk.access_token, { proofKey: h.otherKey });
  t.check('complete with a proof by another key: 401', r.status === 401, r.text);
  r = await complete(tk.task, tk.access_token, { proofKey: null });
  t.check('complete without a proof: 401', r.status === 401, r.text);
  const other = await h.task();
  r = await complete(other.task, tk.access_token);
  t.check("complete another task with this token: 403", r.status === 403, r.text);
  r = await complete(tk.task, tk.access_token);
  t.check('complete by the agent: 200 completed', r.status === 200 && r.body.state === 'completed', r.text);
  r = await complete(tk.task, tk.access_token);
  t.check('complete twice: 409', r.status === 409, r.text);
  r = await check(tk.access_token, refundCall);
  t.check('token after completion: deny task_ended', denied(r, 'task_ended') &&
    r.body.reasons.includes('completed'), r.text);

  // ---- revoke by owner / security / admin; owner scoping ---------------------------------------
  tk = await h.task();
  r = await h.api('POST', `/v1/tasks/${tk.task}/revoke`, { reason: 'not mine' }, keys.bob);
  t.check("another owner cannot revoke (404, existence not revealed)", r.status === 404, r.text);
  r = await h.api('GET', `/v1/tasks/${tk.task}`, undefined, keys.bob);
  t.check("another owner cannot read the task", r.status === 404, r.text);
  r = await h.api('GET', '/v1/tasks', undefined, keys.bob);
  t.check("another owner lists none of alice's tasks", r.status === 200 &&
    r.body.items.every((x) => x.agent !== REFUND_BOT), r.text);
  r = await h.api('GET', '/v1/tasks', undefined, keys.alice);
  t.check('owner lists her agents\' tasks', r.status === 200 &&
    r.body.items.some((x) => x.id === tk.task), r.text);
  r = await h.api('POST', `/v1/tasks/${tk.task}/revoke`, { reason: 'owner says stop' }, keys.alice);
  t.check('owner revokes her agent\'s task', r.status === 200 && r.body.state === 'revoked', r.text);
  r = await check(tk.access_token, refundCall);
  t.check('token after revocation: deny', denied(r, 'task_ended') && r.body.reasons.includes('revoked'), r.text);
  r = await h.api('POST', `/v1/tasks/${tk.task}/revoke`, {}, keys.alice);
  t.check('revoke twice: 409', r.status === 409, r.text);
  tk = await h.task();
  r = await h.api('POST', `/v1/tasks/${tk.task}/revoke`, undefined, keys.security);
  t.check('security revokes', r.status === 200, r.text);
  r = await h.api('POST', `/v1/tasks/${tk.task}/revoke`, { reason: 1 }, keys.admin);
  t.check('revoke: bad reason type 400', r.status === 400, r.text);

  // ---- expiry --------------------------------------------------------------------------------
  // 3 s: long enough to be alive at its first check on a loaded machine
  // (a 1 s task could expire before it, as seen under a load average of 8)
  tk = await h.task({ details: { ...refunds, ttl: 3 } });
  r = await check(tk.access_token, refundCall);
  t.check('short task: allowed while alive', allowed(r), r.text);
  await sleep(4200);
  r = await check(tk.access_token, refundCall);
  t.check('token after expiry: deny', denied(r) && r.body.reasons.some((x) => /expired/.test(x)), r.text);
  r = await complete(tk.task, tk.access_token);
  t.check('complete after expiry refused', r.status === 401 || r.status === 409, r.text);

  // ---- introspection (RFC 7662) and revocation (RFC 7009) ----------------------------------------
  tk = await h.task();
  r = await form('/oauth2/introspect', { token: tk.access_token }, keys.pep);
  t.check('introspect: active with act, task state and scope', r.status === 200 && r.body.active === true &&
    r.body.act && r.body.act.sub === REFUND_BOT && r.body.task === tk.task &&
    r.body.task_state === 'active' && Array.isArray(r.body.authorization_details) &&
    r.body.token_type === 'DPoP' && r.body.cnf && r.body.cnf.jkt, r.text);
  r = await form('/oauth2/introspect', { token: 'garbage.token.here' }, keys.pep);
  t.check('introspect garbage: active false', r.status === 200 && r.body.active === false, r.text);
  r = await form('/oauth2/introspect', { nope: 'x' }, keys.pep);
  t.check('introspect: unknown parameter 400 invalid_request', r.status === 400 &&
    r.body.error === 'invalid_request', r.text);
  r = await form('/oauth2/revoke', { token: tk.access_token });
  t.check('RFC 7009 revoke: 200', r.status === 200, r.text);
  r = await check(tk.access_token, refundCall);
  t.check('token after RFC 7009 revocation: deny', denied(r), r.text);
  r = await form('/oauth2/introspect', { token: tk.access_token }, keys.pep);
  t.check('introspect after revocation: active false', r.status === 200 && r.body.active === false, r.text);
  r = await form('/oauth2/revoke', { token: 'not-a-token' });
  t.check('RFC 7009 revoke of an invalid token: 200', r.status === 200, r.text);

  // ---- roles against endpoints they must not use --------------------------------------------------
  tk = await h.task();
  const checkBody = { token: tk.access_token, tool: 'payments.refund', action: 'create' };
  for (const role of ['admin', 'security', 'auditor', 'alice']) {
    r = await h.api('POST', '/v1/check', checkBody, keys[role]);
    t.check(`role ${role} may not POST /v1/check (403)`, r.status === 403, r.text);
  }
  for (const role of ['auditor', 'alice']) {
    r = await form('/oauth2/introspect', { token: tk.access_token }, keys[role]);
    t.check(`role ${role} may not introspect (403)`, r.status === 403, r.text);
  }
  r = await h.api('GET', '/v1/tasks', undefined, keys.pep);
  t.check('pep may not list tasks (403)', r.status === 403, r.text);
  for (const role of ['pep', 'auditor']) {
    r = await h.api('POST', `/v1/tasks/${tk.task}/revoke`, {}, keys[role]);
    t.check(`role ${role} may not revoke a task (403)`, r.status === 403, r.text);
  }
  r = await fetch(`${h.base}/v1/check`, { method: 'POST', body: JSON.stringify(checkBody),
    headers: { 'content-type': 'application/json' } });
  t.check('no key: /v1/check 401', r.status === 401, `${r.status}`);
  r = await fetch(`${h.base}/v1/check`, { method: 'POST', body: JSON.stringify(checkBody),
    headers: { 'content-type': 'application/json', authorization: `DPoP ${tk.access_token}` } });
  t.check('an agent (its task token) cannot call /v1/check: 401', r.status === 401, `${r.status}`);
  r = await fetch(`${h.base}/v1/tasks`, { headers: { authorization: `Bearer ${tk.access_token}` } });
  t.check('an agent cannot list tasks with its token: 401', r.status === 401, `${r.status}`);
  r = await check(tk.access_token, refundCall);
  t.check('after all that the task still works', allowed(r), r.text);

  // ---- bad input ----------------------------------------------------------------------------------
  r = await check(null, null, { raw: '{"token": "a", ' });
  t.check('malformed JSON: 400', r.status === 400, r.text);
  r = await check(null, null, { raw: '{"token":"a","token":"b","tool":"x","action":"y"}' });
  t.check('duplicate member: 400', r.status === 400, r.text);
  r = await check(null, null, { raw: JSON.stringify({ token: 'a', tool: 'x', action: 'y', extra: 1 }) });
  t.check('unknown member: 400 naming it', r.status === 400 && /extra/.test(r.text), r.text);
  r = await check(null, null, { raw: JSON.stringify({ token: 'a', action: 'y' }) });
  t.check('missing tool: 400', r.status === 400 && /tool/.test(r.text), r.text);
  r = await check(null, null, { raw: JSON.stringify({ token: 'a'.repeat(20000), tool: 'x', action: 'y' }) });
  t.check('oversized token: 400', r.status === 400, r.text);
  r = await check(null, null, { raw: JSON.stringify({ token: 'a', tool: 'x', action: 'y', data_labels: 'pii' }) });
  t.check('data_labels not an array: 400', r.status === 400, r.text);
  r = await check(null, null, { raw: JSON.stringify({ token: 'a', tool: 'x', action: 'y',
    data_labels: Array(100).fill('x') }) });
  t.check('too many data labels: 400', r.status === 400, r.text);
  r = await check('not.a.token', { tool: 'x', action: 'y' }, { noProof: true });
  t.check('invalid token: 200 deny invalid_token (audited)', denied(r) &&
    r.body.reasons.some((x) => x.startsWith('invalid_token')) && r.body.audit_id > 0, r.text);
  const forged = tk.access_token.slice(0, -4) + (tk.access_token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  r = await check(forged, refundCall);
  t.check('token with a broken signature: deny', denied(r) &&
    r.body.reasons.some((x) => x.startsWith('invalid_token')), r.text);
  r = await check(tk.access_token, refundCall);
  t.check('the real token still works after a forged one', allowed(r), r.text);

  // ---- suspension reaches checks at once ---------------------------------------------------------
  tk = await h.task();
  r = await h.api('POST', `/v1/agents/${REFUND_BOT}/status`, { status: 'suspended', reason: 'kill switch' });
  t.check('suspend the agent', r.status === 200, r.text);
  r = await check(tk.access_token, refundCall);
  t.check('token of a suspended agent: deny', denied(r), r.text);
  r = await h.api('POST', `/v1/agents/${REFUND_BOT}/status`, { status: 'active' });
  t.check('reactivate the agent', r.status === 200, r.text);
  r = await check(tk.access_token, refundCall);
  t.check('its old task stays dead after reactivation', denied(r, 'task_ended'), r.text);

  // ---- restart forgets nothing --------------------------------------------------------------------
  const live = await h.task();
  const dead = await h.task();
  r = await h.api('POST', `/v1/tasks/${dead.task}/revoke`, { reason: 'before restart' });
  t.check('revoked before restart', r.status === 200, r.text);
  r = await check(live.access_token, refundCall);
  t.check('live task: one call before restart', allowed(r), r.text);
  await h.restart();
  r = await check(dead.access_token, refundCall);
  t.check('after restart: revoked token still refused', denied(r) &&
    (r.body.reasons.includes('task_ended') || r.body.reasons.includes('token_revoked')), r.text);
  r = await check(live.access_token, refundCall);
  t.check('after restart: live token allowed', allowed(r), r.text);
  r = await h.api('GET', `/v1/tasks/${live.task}`);
  t.check('after restart: the call counter kept', r.body && r.body.calls === 2, r.text);

  t.check('server still answers', (await fetch(`${h.base}/healthz`)).ok);
} catch (err) {
  t.check('no exception', false, `${err.stack}\n${h.stderr}`);
} finally {
  const ex = await h.stop();
  t.check('server exits cleanly on SIGTERM', ex && ex.code === 0, JSON.stringify(ex));
}
process.exit(t.summary());
