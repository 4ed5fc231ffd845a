// deleg-e2e.mjs: delegation with attenuation (RFC 8693 with the parent's
// task token as subject_token) and the kill switch, end to end against the
// real server (harness: access-harness.mjs).  docs/delegation.md.
//
// Usage: node deleg-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).

import { setup, REFUND_BOT, RESEARCH, RISKY, GT, TT_JWT } from './access-harness.mjs';

const { bin, jose, t, h } = await setup();
const TOOL_URL = 'https://orders.internal.example/v1/orders';
const SUB1 = 'spiffe://corp.example/agents/triage-sub';
const SUB2 = 'spiffe://corp.example/agents/lookup-subsub';
const SUB3 = 'spiffe://corp.example/agents/deep-sub';
const NOINTENT = 'spiffe://corp.example/agents/no-intent-sub';
const keys = {};
const dkeys = {};

const check = (token, call, proofKey) => h.check(token, call, proofKey, { key: keys.pep, url: TOOL_URL });
const allowed = (r) => r.status === 200 && r.body && r.body.allow === true;
const denied = (r, reason) => r.status === 200 && r.body && r.body.allow === false &&
  (reason === undefined || r.body.reasons.includes(reason));

// Delegates parentToken to agent (bound to its key in dkeys) with details,
// the proof by the key the parent is bound to (h.delegate, docs/delegation.md).
// opts: proofKey (sign the proof with another key), noProof, dpop (a given
// proof header), jkt (dpop_jkt; null: none).
const delegate = (parentToken, agent, details, opts = {}) =>
  h.delegate(parentToken, h.keyOf(parentToken), agent, dkeys[agent], details, opts);

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
  await h.must('POST', `/v1/agents/${SUB3}/entitlements`, { intent: 'research' });
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

  // ---- proof of possession of the parent token -----------------------------------------------------
  const popRoot = await h.task();
  const refused = (res, status, reason) => res.status === status && res.body &&
    Array.isArray(res.body.reasons) && res.body.reasons.includes(reason);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { noProof: true });
  t.check('PoP: a stolen parent token without any proof cannot delegate (dpop_parent_proof_required)',
    refused(r, 400, 'dpop_parent_proof_required'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { proofKey: h.otherKey });
  t.check('PoP: a stolen parent token with the thief\'s own proof: dpop_not_parent_key',
    refused(r, 400, 'dpop_not_parent_key'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { proofKey: dkeys[SUB1], jkt: null });
  t.check('PoP: a proof by the child key only (no dpop_jkt): refused dpop_jkt_required',
    refused(r, 400, 'dpop_jkt_required'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { proofKey: dkeys[SUB1] });
  t.check('PoP: a proof by the child key with dpop_jkt: dpop_not_parent_key',
    refused(r, 400, 'dpop_not_parent_key'), r.text);
  const once = await h.dpop(h.agentKey, 'POST', `${h.base}/oauth2/token`, { accessToken: popRoot.access_token });
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { dpop: once });
  t.check('PoP: the parent\'s proof: issued, bound to dpop_jkt', r.status === 200 &&
    r.body.token_type === 'DPoP' && jose.decodeJwt(r.body.access_token).cnf.jkt === await h.thumbprint(dkeys[SUB1]), r.text);
  const popChild = r.body;
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { dpop: once });
  t.check('PoP: the same proof replayed: refused dpop_replay', refused(r, 400, 'dpop_replay'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, {
    dpop: await h.dpop(h.agentKey, 'POST', `${h.base}/v1/check`, { accessToken: popRoot.access_token }) });
  t.check('PoP: a parent proof for another URL: refused dpop_bad_htu', refused(r, 400, 'dpop_bad_htu'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, {
    dpop: await h.dpop(h.agentKey, 'POST', `${h.base}/oauth2/token`, { accessToken: c1.access_token }) });
  t.check('PoP: a parent proof made for another token (ath): refused dpop_bad_ath', refused(r, 400, 'dpop_bad_ath'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, {
    dpop: await h.dpop(h.agentKey, 'POST', `${h.base}/oauth2/token`) });
  t.check('PoP: a parent proof without ath: refused', refused(r, 400, 'dpop_bad_ath'), r.text);
  r = await delegate(popRoot.access_token, SUB1, { budget: 1 }, { jkt: 'not-a-thumbprint' });
  t.check('PoP: a malformed dpop_jkt: 400 invalid_dpop_jkt', refused(r, 400, 'invalid_dpop_jkt'), r.text);
  r = await h.exchange({ params: [['grant_type', GT], ['subject_token', await h.svid(REFUND_BOT)],
    ['subject_token_type', TT_JWT], ['authorization_details', JSON.stringify([{ type: 'mandate_task', intent: 'refunds' }])],
    ['dpop_jkt', await h.thumbprint(h.agentKey)]], dpopKey: h.agentKey });
  t.check('PoP: dpop_jkt on a root exchange: 400 invalid_dpop_jkt', refused(r, 400, 'invalid_dpop_jkt'), r.text);
  r = await check(popChild.access_token, listCall, dkeys[SUB1]);
  t.check('PoP: the child token works with the child key', allowed(r), r.text);
  r = await check(popChild.access_token, listCall, h.agentKey);
  t.check('PoP: the child token refuses the parent\'s key', denied(r), r.text);

  // a bearer parent (research: no DPoP required): the proof, if any, is the sub-agent's
  const bearer = (await h.exchange({ subject_token: await h.svid(RESEARCH),
    details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } })).body;
  const rdet = { intent: 'research', data_labels: ['public'], budget: 1 };
  const sub3jkt = await h.thumbprint(dkeys[SUB3]);
  r = await delegate(bearer.access_token, SUB3, rdet, { proofKey: dkeys[SUB3] });
  t.check('bearer parent: the sub-agent\'s proof and dpop_jkt: issued, bound to its key', r.status === 200 &&
    jose.decodeJwt(r.body.access_token).cnf.jkt === sub3jkt, r.text);
  r = await delegate(bearer.access_token, SUB3, rdet, { proofKey: dkeys[SUB3], jkt: null });
  t.check('bearer parent: the sub-agent\'s proof alone (as before): issued, bound to it', r.status === 200 &&
    jose.decodeJwt(r.body.access_token).cnf.jkt === sub3jkt, r.text);
  r = await delegate(bearer.access_token, SUB3, rdet, { noProof: true });
  t.check('bearer parent: dpop_jkt alone: issued, bound to the named key', r.status === 200 &&
    r.body.token_type === 'DPoP' && jose.decodeJwt(r.body.access_token).cnf.jkt === sub3jkt, r.text);
  r = await delegate(bearer.access_token, SUB3, rdet, { proofKey: h.otherKey });
  t.check('bearer parent: a proof by another key than dpop_jkt: dpop_jkt_mismatch',
    refused(r, 400, 'dpop_jkt_mismatch'), r.text);
  r = await h.api('POST', `/v1/tasks/${bearer.task}/revoke`, { reason: 'done' }, keys.security);
  t.check('bearer parent: revoked with its subtree', r.status === 200, r.text);

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

  // ---- the kill switch ------------------------------------------------------------------------------
  const ks = (method, body, key = keys.security) => h.api(method, '/v1/killswitch', body, key);
  const refundTask = () => h.task();
  const researchTask = async (agent = RESEARCH) => (await h.exchange({ subject_token: await h.svid(agent),
    details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } })).body;
  const searchCall = { tool: 'web.search', action: 'query' };
  const checkNoProof = async (token, call) => {
    const r = await fetch(`${h.base}/v1/check`, { method: 'POST',
      headers: { authorization: `Bearer ${keys.pep}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token, method: 'POST', url: TOOL_URL, ...call }) });
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* */ }
    return { status: r.status, body, text };
  };

  r = await ks('POST', { scope: 'agent', target: RESEARCH, reason: 'x' }, keys.auditor);
  t.check('engage: an auditor may not (403)', r.status === 403, r.text);
  r = await ks('POST', { scope: 'agent', target: RESEARCH, reason: 'x' }, keys.alice);
  t.check('engage: an owner may not (403)', r.status === 403, r.text);
  r = await ks('POST', { scope: 'planet', reason: 'x' });
  t.check('engage: an unknown scope is 400', r.status === 400, r.text);
  r = await ks('POST', { scope: 'team', reason: 'x' });
  t.check('engage: a team scope needs a target (400)', r.status === 400, r.text);

  // agent scope
  let ra = await researchTask(), rb = await refundTask();
  t.check('before: research task allowed', allowed(await checkNoProof(ra.access_token, searchCall)));
  r = await ks('POST', { scope: 'agent', target: RESEARCH, reason: 'compromised key' });
  t.check('engage agent: 200, one task revoked', r.status === 200 && r.body.revoked === 1, r.text);
  t.check('engage agent: its task is denied at once',
    denied(await checkNoProof(ra.access_token, searchCall)));
  t.check('engage agent: another agent\'s task still allowed',
    allowed(await check(rb.access_token, readCall, h.agentKey)));
  r = await h.exchange({ subject_token: await h.svid(RESEARCH),
    details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } });
  t.check('engage agent: a new exchange is refused killswitch_engaged', r.status === 403 &&
    r.body.reasons.includes('killswitch_engaged'), r.text);
  r = await ks('GET', undefined, keys.auditor);
  t.check('status: the auditor sees the engaged switch', r.status === 200 &&
    r.body.engaged.length === 1 && r.body.engaged[0].target === RESEARCH &&
    r.body.engaged[0].reason === 'compromised key', r.text);
  r = await ks('DELETE', { scope: 'agent', target: RESEARCH }, keys.auditor);
  t.check('lift: an auditor may not (403)', r.status === 403, r.text);
  r = await ks('DELETE', { scope: 'agent', target: RESEARCH });
  t.check('lift by security: 200', r.status === 200 && r.body.lifted === true, r.text);
  r = await ks('DELETE', { scope: 'agent', target: RESEARCH });
  t.check('lift again: 404', r.status === 404, r.text);
  ra = await researchTask();
  t.check('after lift: new tasks again', ra && ra.access_token &&
    allowed(await checkNoProof(ra.access_token, searchCall)));
  const aud = await h.api('GET', '/v1/audit?limit=1000', undefined, keys.auditor);
  const evs = (aud.body && aud.body.items || []).map((x) => x.event);
  t.check('engage and lift are audited', evs.includes('killswitch.engage') && evs.includes('killswitch.lift'),
    JSON.stringify(evs.slice(-10)));

  // owner scope: alice owns the refund bot and SUB1; bob owns the research agent
  rb = await refundTask();
  let sb = (await delegate(rb.access_token, SUB2, { budget: 1 })).body; // SUB2 (bob) under alice's bot
  r = await ks('POST', { scope: 'owner', target: 'alice', reason: 'owner account compromised' });
  t.check('engage owner alice: her agent\'s task and the task delegated below it revoked',
    r.status === 200 && r.body.revoked >= 2, r.text);
  t.check('owner: alice\'s task denied', denied(await check(rb.access_token, readCall, h.agentKey)));
  t.check('owner: the delegated child (bob\'s agent) denied too', denied(await check(sb.access_token, readCall, dkeys[SUB2])));
  t.check('owner: bob\'s research task still allowed', allowed(await checkNoProof(ra.access_token, searchCall)));
  r = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: { type: 'mandate_task', intent: 'refunds' },
    dpopKey: h.agentKey });
  t.check('owner: alice\'s agent cannot start a task', r.status === 403 && r.body.reasons.includes('killswitch_engaged'), r.text);
  await ks('DELETE', { scope: 'owner', target: 'alice' });

  // team scope: research team = the research agent (and SUB2)
  ra = await researchTask();
  rb = await refundTask();
  r = await ks('POST', { scope: 'team', target: 'research', reason: 'incident 42' });
  t.check('engage team research: 200', r.status === 200 && r.body.revoked >= 1, r.text);
  t.check('team: the research task denied', denied(await checkNoProof(ra.access_token, searchCall)));
  t.check('team: the payments team\'s task still allowed', allowed(await check(rb.access_token, readCall, h.agentKey)));
  await ks('DELETE', { scope: 'team', target: 'research' });

  // all, racing a stream of checks from several concurrent clients
  const live = [];
  for (let i = 0; i < 6; i++) live.push(await researchTask());
  let engagedAt = 0;
  let stop = false;
  const late = [];
  let before = 0;
  const worker = async (tk) => {
    while (!stop) {
      const sent = Date.now();
      const res = await checkNoProof(tk.access_token, searchCall);
      if (engagedAt && sent > engagedAt && allowed(res)) late.push(res.text);
      if (!engagedAt && allowed(res)) before++;
    }
  };
  const workers = live.flatMap((tk) => [worker(tk), worker(tk)]);
  await new Promise((res) => setTimeout(res, 300));
  r = await ks('POST', { scope: 'all', reason: 'stop everything' });
  engagedAt = Date.now();
  await new Promise((res) => setTimeout(res, 300));
  stop = true;
  await Promise.all(workers);
  t.check('engage all during 12 concurrent check streams: 200', r.status === 200 && r.body.revoked >= 6, r.text);
  t.check('race: checks were allowed before the engage', before > 0, String(before));
  t.check('race: no allow for a check sent after the engage answered', late.length === 0, late.slice(0, 2).join(' '));
  r = await h.exchange({ subject_token: await h.svid(RESEARCH),
    details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } });
  t.check('all: new exchanges refused', r.status === 403 && r.body.reasons.includes('killswitch_engaged'), r.text);

  // the CLI
  const { spawnSync } = await import('node:child_process');
  const cli = (args) => spawnSync(bin, ['killswitch', ...args, '--url', h.base, '--key', keys.security],
    { encoding: 'utf8' });
  let c = cli(['status']);
  t.check('cli status: exit 0 and lists the switch', c.status === 0 && JSON.parse(c.stdout).engaged[0].scope === 'all',
    c.stdout + c.stderr);
  c = cli(['lift', '--scope', 'all']);
  t.check('cli lift all: exit 0', c.status === 0, c.stdout + c.stderr);
  c = cli(['engage', '--scope', 'agent', '--target', RESEARCH, '--reason', 'from the cli']);
  t.check('cli engage agent: exit 0, revoked', c.status === 0 && JSON.parse(c.stdout).scope === 'agent', c.stdout + c.stderr);
  c = cli(['lift', '--scope', 'agent', '--target', RESEARCH]);
  t.check('cli lift agent: exit 0', c.status === 0, c.stdout + c.stderr);
  c = cli(['lift', '--scope', 'agent', '--target', RESEARCH]);
  t.check('cli lift of nothing: exit 1', c.status === 1, c.stdout + c.stderr);
  c = cli(['engage', '--scope', 'all']);
  t.check('cli engage without --reason: exit 2', c.status === 2, c.stdout + c.stderr);

  // ---- persistence: a restart (even SIGKILL) lifts no switch and forgets no carve -----------------
  const pr = await refundTask(); // alice's bot, budget 5
  r = await delegate(pr.access_token, SUB1, { tools: [{ name: 'orders.read', actions: ['read', 'list'] }], budget: 2 });
  t.check('persist: a child with 2 calls carved', r.status === 200, r.text);
  const pc = r.body;
  const pa = await researchTask(); // bob's research agent
  t.check('persist: bob\'s task allowed before', allowed(await checkNoProof(pa.access_token, searchCall)));
  r = await ks('POST', { scope: 'owner', target: 'bob', reason: 'persist test' });
  t.check('persist: engage owner bob', r.status === 200 && r.body.revoked >= 1, r.text);
  h.proc.kill('SIGKILL');
  const killed = await h.exited;
  h.proc = null;
  await h.serve();
  t.check('persist: the server was SIGKILLed and restarted', killed.sig === 'SIGKILL', JSON.stringify(killed));
  r = await ks('GET', undefined, keys.auditor);
  t.check('persist: after the restart the switch is still engaged', r.status === 200 &&
    r.body.engaged.length === 1 && r.body.engaged[0].scope === 'owner' && r.body.engaged[0].target === 'bob' &&
    r.body.engaged[0].reason === 'persist test', r.text);
  t.check('persist: the old task\'s checks are denied', denied(await checkNoProof(pa.access_token, searchCall)));
  r = await h.exchange({ subject_token: await h.svid(RESEARCH),
    details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } });
  t.check('persist: new exchanges in scope refused killswitch_engaged', r.status === 403 &&
    r.body.reasons.includes('killswitch_engaged'), r.text);
  r = await delegate(pr.access_token, SUB3, { budget: 4 });
  t.check('persist: the parent\'s carve survived (5 - 2 = 3 left: 4 refused)', r.status === 403 &&
    r.body.reasons.includes('budget_exceeds_parent'), r.text);
  r = await delegate(pr.access_token, SUB3, { budget: 3 });
  t.check('persist: ... and 3 issued', r.status === 200, r.text);
  const pcr = [];
  for (let i = 0; i < 3; i++) pcr.push(await check(pc.access_token, listCall, dkeys[SUB1]));
  t.check('persist: the child\'s own budget survived (2 calls allowed, the 3rd denied)',
    allowed(pcr[0]) && allowed(pcr[1]) && denied(pcr[2], 'budget_exhausted'), pcr.map((x) => x.text).join(' '));
  r = await ks('DELETE', { scope: 'owner', target: 'bob' });
  t.check('persist: lift', r.status === 200, r.text);
  await h.restart();
  r = await ks('GET', undefined, keys.auditor);
  t.check('persist: a lifted switch stays lifted after a restart', r.status === 200 && r.body.engaged.length === 0, r.text);
  const pa2 = await researchTask();
  t.check('persist: after the lift bob\'s agent works again', pa2 && pa2.access_token &&
    allowed(await checkNoProof(pa2.access_token, searchCall)));
} catch (err) {
  t.check('no exception', false, String(err && err.stack));
} finally {
  const ex = await h.stop();
  t.check('server exits cleanly on SIGTERM (no leak under ASan)', ex && ex.code === 0,
    `${JSON.stringify(ex)} ${h.stderr.slice(-2000)}`);
}
const code = t.summary();
process.stdout.write("", () => process.exit(code)); // exit once a piped stdout is flushed
