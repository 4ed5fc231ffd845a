// deleg-e2e.mjs: delegation with attenuation (RFC 8693 with the parent's
// task token as subject_token) and the kill switch, end to end against the
// real server (harness: access-harness.mjs).  docs/delegation.md.
//
// Usage: node deleg-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, Results, here, REFUND_BOT, RESEARCH, RISKY } from './access-harness.mjs';

const bin = process.argv[2] || process.env.MANDATE_BIN;
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
const t = new Results();
const h = await Harness.start(bin, jose);
const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const TOOL_URL = 'https://orders.internal.example/v1/orders';
const SUB1 = 'spiffe://corp.example/agents/triage-sub';
const SUB2 = 'spiffe://corp.example/agents/lookup-subsub';
const SUB3 = 'spiffe://corp.example/agents/deep-sub';
const NOINTENT = 'spiffe://corp.example/agents/no-intent-sub';
const keys = {};
const dkeys = {};

async function check(token, call, proofKey) {
  const p = await h.dpop(proofKey, 'POST', TOOL_URL, { accessToken: token });
  const r = await fetch(`${h.base}/v1/check`, {
    method: 'POST', headers: { authorization: `Bearer ${keys.pep}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token, dpop: p, method: 'POST', url: TOOL_URL, ...call }),
  });
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body, text };
}
const allowed = (r) => r.status === 200 && r.body && r.body.allow === true;
const denied = (r, reason) => r.status === 200 && r.body && r.body.allow === false &&
  (reason === undefined || r.body.reasons.includes(reason));

// Delegates parentToken to agent with details (the sub-agent's key proves DPoP).
async function delegate(parentToken, agent, details) {
  return h.exchange({
    subject_token: parentToken, subject_token_type: TT_ACCESS,
    actor_token: await h.svid(agent), details: { type: 'mandate_task', intent: 'refunds', ...details },
    dpopKey: dkeys[agent],
  });
}

async function introspect(token) {
  const r = await fetch(`${h.base}/oauth2/introspect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys.pep}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return r.json();
}

const readCall = { tool: 'orders.read', action: 'read', resource: 'order:1' };
const listCall = { tool: 'orders.read', action: 'list' };
const refundCall = { tool: 'payments.refund', action: 'create', resource: 'order:42', data_labels: ['payment'] };

try {
  await h.loadExample();
  for (const [name, role, subject] of [['pep', 'pep'], ['security', 'security'],
    ['alice', 'owner', 'alice'], ['auditor', 'auditor']]) {
    const k = await h.must('POST', '/v1/api-keys', { name: `k-${name}`, role, ...(subject ? { subject } : {}) });
    keys[name] = k.key;
  }
  for (const [id, owner, team] of [[SUB1, 'alice', 'payments'], [SUB2, 'bob', 'research'],
    [SUB3, 'carol', undefined], [NOINTENT, 'alice', undefined]]) {
    await h.must('POST', '/v1/agents', { id, owner, ...(team ? { team } : {}), purpose: 'sub-agent',
      environment: 'production', risk_tier: 0, issuer: 'corp-spiffe' });
    if (id !== NOINTENT) await h.must('POST', `/v1/agents/${id}/entitlements`, { intent: 'refunds' });
  }
  await h.must('POST', `/v1/agents/${RESEARCH}/entitlements`, { intent: 'refunds' });
  for (const a of [REFUND_BOT, SUB1, SUB2, SUB3, NOINTENT, RISKY, RESEARCH]) {
    dkeys[a] = await jose.generateKeyPair('ES256', { extractable: true });
  }
  dkeys[REFUND_BOT] = h.agentKey;

  // ---- a three-hop chain with narrowing scopes ---------------------------------------------------
  const root = await h.task(); // refund bot, refunds: both tools, budget 5
  let r = await delegate(root.access_token, SUB1, {
    tools: [{ name: 'orders.read', actions: ['read', 'list'] }, { name: 'payments.refund', actions: ['create'] }],
    budget: 3,
  });
  t.check('hop 1: refund bot -> sub-agent: issued, DPoP-bound', r.status === 200 &&
    r.body.token_type === 'DPoP', r.text);
  const c1 = r.body;
  const c1claims = jose.decodeJwt(c1.access_token);
  t.check('hop 1: act nests the chain (RFC 8693 4.1), sub is the root agent, parent_task',
    c1claims.act && c1claims.act.sub === SUB1 && c1claims.act.act && c1claims.act.act.sub === REFUND_BOT &&
    c1claims.sub === REFUND_BOT && c1claims.parent_task === root.task, JSON.stringify(c1claims));
  r = await delegate(c1.access_token, SUB2, { tools: [{ name: 'orders.read', actions: ['read'] }], budget: 1, ttl: 60 });
  t.check('hop 2: sub-agent -> sub-sub-agent, narrower: issued', r.status === 200, r.text);
  const c2 = r.body;
  const c2claims = jose.decodeJwt(c2.access_token);
  t.check('hop 2: act nests three agents', c2claims.act.sub === SUB2 && c2claims.act.act.sub === SUB1 &&
    c2claims.act.act.act.sub === REFUND_BOT && c2claims.exp <= c1claims.exp, JSON.stringify(c2claims));
  const intro = await introspect(c2.access_token);
  t.check('introspection returns the chain', intro.active === true && intro.act &&
    intro.act.act && intro.act.act.sub === SUB1, JSON.stringify(intro));

  r = await check(c2.access_token, readCall, dkeys[SUB2]);
  t.check('grandchild: a call inside its scope: allow', allowed(r), r.text);
  const seq = r.body && r.body.audit_id;
  const rec = await h.api('GET', `/v1/audit?after=${seq - 1}&limit=1`, undefined, keys.auditor);
  const a0 = rec.body && rec.body.items && rec.body.items[0];
  const chain = a0 && (typeof a0.actor_chain === 'string' ? JSON.parse(a0.actor_chain) : a0.actor_chain);
  t.check('audit of the grandchild call names every hop, root first', Array.isArray(chain) &&
    chain.map((x) => x.id).join(' ') === [REFUND_BOT, SUB1, SUB2].join(' '), rec.text);
  r = await check(c2.access_token, readCall, dkeys[SUB2]);
  t.check('grandchild: budget carved (1 call): the second call denies', denied(r), r.text);
  r = await check(c1.access_token, refundCall, dkeys[SUB1]);
  t.check('child: payment tool granted but policy subagents-no-payments (chain in context) denies',
    denied(r, 'subagents-no-payments'), r.text);
  r = await check(c1.access_token, listCall, dkeys[SUB1]);
  t.check('child: a call inside its scope: allow', allowed(r), r.text);
  r = await check(root.access_token, refundCall, h.agentKey);
  t.check('root: the payment tool: allow (depth 0)', allowed(r), r.text);

  // ---- refusals ------------------------------------------------------------------------------------
  // (the grandchild's over-budget call was drift: refunds revokes on drift)
  r = await delegate(c1.access_token, SUB3, { tools: [{ name: 'orders.read', actions: ['read', 'delete'] }] });
  t.check('widening: an action the parent lacks: refused scope_exceeds_parent', r.status === 403 &&
    r.body.reasons.includes('scope_exceeds_parent'), r.text);
  r = await delegate(c1.access_token, SUB3, { data_labels: ['customer', 'payment', 'secret'] });
  t.check('widening: a data label the parent lacks: refused', r.status === 403 &&
    r.body.reasons.includes('scope_exceeds_parent'), r.text);
  r = await delegate(c1.access_token, SUB3, { ttl: 600 });
  t.check('extending expiry past the parent: refused expiry_exceeds_parent', r.status === 403 &&
    r.body.reasons.includes('expiry_exceeds_parent'), r.text);
  r = await delegate(c1.access_token, SUB3, { budget: 50 });
  t.check('a budget over the parent\'s: refused budget_exceeds_parent', r.status === 403 &&
    r.body.reasons.includes('budget_exceeds_parent'), r.text);
  r = await delegate(c1.access_token, NOINTENT, {});
  t.check('delegating to an agent without the intent: refused intent_not_entitled', r.status === 403 &&
    r.body.reasons.includes('intent_not_entitled'), r.text);
  r = await delegate(c1.access_token, RISKY, {});
  t.check('delegating to a high-risk agent: Cedar Delegate denies', r.status === 403 &&
    r.body.reasons.includes('no-high-risk-subagents'), r.text);
  r = await delegate(c1.access_token, SUB3, { intent: 'crm-export' });
  t.check('another intent than the parent\'s: refused', r.status === 403 &&
    r.body.reasons.includes('intent_differs_from_parent'), r.text);
  // depth: root(0) -> 1 -> 2 -> 3 allowed, 4 refused (default limit 3)
  const d1 = await delegate(root.access_token, RESEARCH, { tools: [{ name: 'orders.read', actions: ['read'] }], budget: 1 });
  const d2 = d1.status === 200 ? await delegate(d1.body.access_token, SUB3, { budget: 1 }) : d1;
  const d3 = d2.status === 200 ? await delegate(d2.body.access_token, SUB1, { budget: 1 }) : d2;
  t.check('depth 3 (the default limit): issued', d3.status === 200, d3.text);
  const d4 = d3.status === 200 ? await delegate(d3.body.access_token, SUB2, { budget: 1 }) : d3;
  t.check('depth 4: refused depth_exceeded', d4.status === 403 && d4.body.reasons.includes('depth_exceeded'), d4.text);

  // ---- revoking the root cuts off the whole subtree --------------------------------------------------
  r = await h.api('POST', `/v1/tasks/${root.task}/revoke`, { reason: 'test' }, keys.security);
  t.check('revoke the root task', r.status === 200, r.text);
  for (const [name, tok, key] of [['root', root.access_token, h.agentKey], ['child', c1.access_token, dkeys[SUB1]],
    ['grandchild', c2.access_token, dkeys[SUB2]], ['depth-3', d3.body && d3.body.access_token, dkeys[SUB1]]]) {
    r = await check(tok, readCall, key);
    t.check(`after the root's revocation: ${name} denied`, denied(r), r.text);
  }
  r = await h.api('GET', `/v1/tasks/${c2.task}`, undefined, keys.security);
  t.check('the grandchild task is revoked (parent_ended) in the store', r.status === 200 &&
    r.body.state === 'revoked' && r.body.parent === c1.task, r.text);
  r = await delegate(root.access_token, SUB1, {});
  t.check('a revoked parent cannot delegate', r.status >= 400, r.text);

  // ---- completing a parent revokes its children -------------------------------------------------------
  const p2 = await h.task();
  const k2 = (await delegate(p2.access_token, SUB1, { budget: 1 })).body;
  const url = `${h.base}/v1/tasks/${p2.task}/complete`;
  r = await fetch(url, { method: 'POST', headers: { authorization: `DPoP ${p2.access_token}`,
    dpop: await h.dpop(h.agentKey, 'POST', url, { accessToken: p2.access_token }) } });
  t.check('complete the parent', r.status === 200, await r.text());
  r = await check(k2.access_token, readCall, dkeys[SUB1]);
  t.check('its child is cut off', denied(r), r.text);

  globalThis.ctx = { h, t, keys, dkeys, check, delegate, allowed, denied, readCall, SUB1, SUB2, SUB3 };
  if (process.env.DELEG_KILLSWITCH !== '0') {
    const ks = join(here, 'deleg-killswitch.mjs');
    if (existsSync(ks)) await (await import(ks)).run(globalThis.ctx);
  }
} catch (err) {
  t.check('no exception', false, String(err && err.stack));
} finally {
  await h.stop();
}
process.exit(t.summary());
