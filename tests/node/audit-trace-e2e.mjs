// audit-trace-e2e.mjs: the issue's proof for audit queries and traces
// (docs/audit.md "Queries"): a three-hop delegation chain on behalf of a
// human, calls by the grandchild, a drift that revokes it; then
// GET /v1/audit/trace/{root} and `mandate audit trace` name every agent, the
// human, every call and the revocation, and GET /v1/audit's filters find
// exactly the records they should (harness: access-harness.mjs).
//
// Usage: node audit-trace-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).

import { spawnSync } from 'node:child_process';
import { setup, REFUND_BOT, TT_ID, ORPHAN, RISKY, STAGING } from './access-harness.mjs';

const { bin, jose, t, h } = await setup();
const TOOL_URL = 'https://orders.internal.example/v1/orders';
const SUB1 = 'spiffe://corp.example/agents/triage-sub';
const SUB2 = 'spiffe://corp.example/agents/lookup-subsub';
const keys = {};
const dkeys = {};

// Every call names its downstream system, as an enforcement point does.
const check = (token, call, proofKey) =>
  h.check(token, { downstream: 'orders-api', ...call }, proofKey, { key: keys.pep, url: TOOL_URL });

// A DPoP-bound parent proves its key when it delegates (docs/delegation.md):
// h.delegate signs the proof by the parent's key, the sub-agent's key (dkeys)
// goes in dpop_jkt.
const delegate = (parentToken, agent, details) =>
  h.delegate(parentToken, h.keyOf(parentToken), agent, dkeys[agent], details);

// Key-sorted JSON text: the API (insertion order) and the CLI (sorted) compare equal.
const canon = (v) => (Array.isArray(v) ? `[${v.map(canon).join(',')}]`
  : v && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`
    : JSON.stringify(v));
const q = (query, key = keys.auditor) => h.api('GET', `/v1/audit${query}`, undefined, key);
const all = (r, pred) => r.status === 200 && r.body.items.length > 0 && r.body.items.every(pred);
const cli = (args) => spawnSync(bin, ['audit', ...args, '--db', h.db], { encoding: 'utf8' });

try {
  await h.loadExample();
  for (const [name, role, subject] of [['pep', 'pep'], ['security', 'security'],
    ['alice', 'owner', 'alice'], ['carol', 'owner', 'carol'], ['auditor', 'auditor']]) {
    const k = await h.must('POST', '/v1/api-keys', { name: `k-${name}`, role, ...(subject ? { subject } : {}) });
    keys[name] = k.key;
  }
  for (const [id, owner] of [[SUB1, 'alice'], [SUB2, 'bob']]) {
    await h.must('POST', '/v1/agents', { id, owner, purpose: 'sub-agent', environment: 'production',
      risk_tier: 0, issuer: 'corp-spiffe' });
    await h.must('POST', `/v1/agents/${id}/entitlements`, { intent: 'refunds' });
  }
  for (const a of [SUB1, SUB2]) dkeys[a] = await jose.generateKeyPair('ES256', { extractable: true });
  const t0 = Date.now();

  // ---- the chain: alice -> refund bot -> triage-sub -> lookup-subsub -------------------------------
  let r = await h.exchange({ subject_token: await h.idToken('alice'), subject_token_type: TT_ID,
    actor_token: await h.svid(REFUND_BOT), details: { type: 'mandate_task', intent: 'refunds' },
    dpopKey: h.agentKey });
  t.check('root task on behalf of alice', r.status === 200, r.text);
  const root = r.body;
  r = await delegate(root.access_token, SUB1, { tools: [{ name: 'orders.read', actions: ['read', 'list'] }], budget: 3 });
  t.check('hop 1 issued', r.status === 200, r.text);
  const c1 = r.body;
  r = await delegate(c1.access_token, SUB2, { tools: [{ name: 'orders.read', actions: ['read'] }], budget: 2 });
  t.check('hop 2 issued', r.status === 200, r.text);
  const c2 = r.body;
  r = await check(root.access_token, { tool: 'orders.read', action: 'list' }, h.agentKey);
  t.check('root: a call: allow', r.status === 200 && r.body.allow === true, r.text);
  r = await check(c2.access_token, { tool: 'orders.read', action: 'read', resource: 'order:7' }, dkeys[SUB2]);
  t.check('grandchild: a call in scope: allow', r.status === 200 && r.body.allow === true, r.text);
  const allowSeq = r.body && r.body.audit_id;
  r = await check(c2.access_token, { tool: 'orders.read', action: 'list' }, dkeys[SUB2]);
  t.check('grandchild: an action outside its scope: deny (drift)', r.status === 200 && r.body.allow === false, r.text);
  const driftReasons = (r.body && r.body.reasons) || [];
  r = await check(c2.access_token, { tool: 'orders.read', action: 'read' }, dkeys[SUB2]);
  t.check('grandchild: revoked by the drift (refunds revokes): deny', r.status === 200 && r.body.allow === false, r.text);
  r = await check(c1.access_token, { tool: 'orders.read', action: 'read' }, dkeys[SUB1]);
  t.check('child: still alive: allow', r.status === 200 && r.body.allow === true, r.text);
  // the kill switch stops the child (one killswitch.engage record, no record per task)
  r = await h.api('POST', '/v1/killswitch', { scope: 'agent', target: SUB1, reason: 'incident 42' }, keys.security);
  t.check('kill switch on the child\'s agent: revoked', r.status === 200 && r.body.revoked >= 1, r.text);
  r = await h.api('DELETE', '/v1/killswitch', { scope: 'agent', target: SUB1 }, keys.security);
  t.check('kill switch lifted', r.status === 200, r.text);

  // ---- the trace over HTTP --------------------------------------------------------------------------
  r = await h.api('GET', `/v1/audit/trace/${root.task}`, undefined, keys.auditor);
  t.check('GET /v1/audit/trace/{root}: 200', r.status === 200, r.text);
  const tr = r.body || {};
  const n1 = (tr.children || [])[0] || {};
  const n2 = (n1.children || [])[0] || {};
  t.check('trace root: the human, the intent, the agent, its owner', tr.human === 'alice' &&
    tr.intent === 'refunds' && tr.agent === REFUND_BOT && tr.owner === 'alice' && tr.depth === 0, JSON.stringify(tr).slice(0, 400));
  t.check('trace: every hop, in order', n1.agent === SUB1 && n1.task === c1.task && n1.parent === root.task &&
    n2.agent === SUB2 && n2.task === c2.task && n2.parent === c1.task && n2.depth === 2 && n2.owner === 'bob',
  JSON.stringify([n1.agent, n2.agent]));
  const evs = (n) => (n.events || []).map((e) => e.event);
  t.check('trace: each hop has its exchange record', evs(tr).includes('task.exchange') &&
    evs(n1).includes('task.exchange') && evs(n2).includes('task.exchange'), JSON.stringify([evs(tr), evs(n1), evs(n2)]));
  const n2checks = (n2.events || []).filter((e) => e.event === 'check');
  t.check('trace: the grandchild\'s calls with tool, action, downstream, decision and seq',
    n2checks.length === 3 && n2checks[0].seq === allowSeq && n2checks[0].tool === 'orders.read' &&
    n2checks[0].action === 'read' && n2checks[0].downstream === 'orders-api' && n2checks[0].decision === 'allow' &&
    n2checks[1].decision === 'deny' && n2checks[1].reasons.join() === driftReasons.join(), JSON.stringify(n2checks));
  const rev = (n2.events || []).find((e) => e.event === 'task.revoke');
  t.check('trace: the drift revocation, with its reason', rev && n2.state === 'revoked' && rev.reasons.length === 1 &&
    driftReasons.includes(rev.reasons[0]) && n2.revoked && n2.revoked.reason === rev.reasons[0], JSON.stringify(n2));
  t.check('trace: the kill switch revocation of the child, with its reason', n1.state === 'revoked' &&
    n1.revoked && n1.revoked.reason === 'killswitch: incident 42' && tr.state === 'active' && tr.revoked === null,
  JSON.stringify([n1.state, n1.revoked, tr.revoked]));
  t.check('trace: the root\'s own call and the child\'s call', (tr.events || []).some((e) => e.event === 'check' &&
    e.action === 'list' && e.decision === 'allow') && (n1.events || []).some((e) => e.event === 'check'), JSON.stringify(tr.events));
  const seqs = [tr, n1, n2].flatMap((n) => n.events.map((e) => e.seq));
  t.check('trace: record seqs ascending within each task', [tr, n1, n2].every((n) => n.events.every((e, i, a) => i === 0 || a[i - 1].seq < e.seq)), seqs.join());
  r = await h.api('GET', `/v1/audit/trace/${c1.task}`, undefined, keys.security);
  t.check('trace of a sub-task: its own subtree (security)', r.status === 200 && r.body.task === c1.task &&
    r.body.children.length === 1 && r.body.children[0].task === c2.task, r.text);
  r = await h.api('GET', '/v1/audit/trace/no-such-task', undefined, keys.auditor);
  t.check('trace of an unknown task: 404 problem', r.status === 404 && /no-such-task/.test(r.body.detail), r.text);
  r = await h.api('GET', `/v1/audit/trace/${root.task}?x=1`, undefined, keys.auditor);
  t.check('trace with a query parameter: 400', r.status === 400 && r.body.field === 'query', r.text);
  r = await h.api('GET', `/v1/audit/trace/${root.task}`, undefined, keys.pep);
  t.check('trace: pep refused (403)', r.status === 403, r.text);
  // An owner traces her agent's task; the tree is whole: bob's sub-sub-agent
  // (SUB2) appears with its records and decisions (done on her task's behalf).
  r = await h.api('GET', `/v1/audit/trace/${root.task}`, undefined, keys.alice);
  t.check('trace: alice (owner of the root agent) reads it, bob\'s sub-agent included', r.status === 200 &&
    canon(r.body) === canon(tr) && r.body.children[0].children[0].owner === 'bob' &&
    r.body.children[0].children[0].events.length > 0, r.text.slice(0, 400));
  r = await h.api('GET', `/v1/audit/trace/${root.task}`, undefined, keys.carol);
  t.check('trace: alice\'s task by carol (another owner): 404, as GET /v1/tasks/{id}', r.status === 404 &&
    r.body.detail === `no task "${root.task}"`, r.text);
  r = await h.api('GET', `/v1/tasks/${root.task}`, undefined, keys.carol);
  t.check('... the same answer as GET /v1/tasks/{id}', r.status === 404, r.text);
  r = await h.api('GET', `/v1/audit/trace/${c2.task}`, undefined, keys.alice);
  t.check('trace: a sub-task whose agent alice does not own (bob\'s): 404', r.status === 404, r.text);

  // ---- the trace from the CLI, offline on the store file -------------------------------------------
  let c = cli(['trace', root.task]);
  const out = c.stdout || '';
  t.check('mandate audit trace: exit 0', c.status === 0, c.stderr);
  t.check('cli trace names the human, every agent, the revocation', out.includes('human alice') &&
    out.includes(REFUND_BOT) && out.includes(SUB1) && out.includes(SUB2) && out.includes('task.revoke') &&
    out.includes('revoked: action_not_granted  (owner bob)') && out.includes('revoked: killswitch: incident 42'), out);
  t.check('cli trace: every call with tool, action, downstream and decision', (out.match(/ check {2}orders\.read /g) || []).length === 5 &&
    out.includes('orders.read read order:7 -> orders-api  allow') && out.includes(`#${allowSeq}`), out);
  t.check('cli trace: an indented tree, each sub-agent where it was delegated (├─ │ └─)',
    /\n {3}├─ sub-agent spiffe:\/\/corp\.example\/agents\/triage-sub /.test(out) &&
    /\n {3}│ {2}├─ sub-agent spiffe:\/\/corp\.example\/agents\/lookup-subsub /.test(out) &&
    /\n {3}│ {2}│ {2}└─ .* check {2}orders\.read read -> orders-api {2}deny/.test(out) &&
    out.indexOf('task.exchange') < out.indexOf('triage-sub'), out);
  c = cli(['trace', root.task, '--json']);
  let cj = null;
  try { cj = JSON.parse(c.stdout); } catch { /* */ }
  t.check('cli trace --json: the API\'s tree, exactly (one builder)', c.status === 0 && cj &&
    canon(cj) === canon(tr), `${canon(cj).slice(0, 300)}\n${canon(tr).slice(0, 300)}`);
  c = cli(['trace', 'no-such-task']);
  t.check('cli trace of an unknown task: exit 1, says so', c.status === 1 && /no task "no-such-task"/.test(c.stderr), c.stderr);
  c = cli(['trace']);
  t.check('cli trace without a task: exit 2', c.status === 2, c.stderr);

  // ---- queries ----------------------------------------------------------------------------------------
  r = await q(`?task=${c2.task}`);
  t.check('?task: only that task\'s records (exchange, 3 checks, revoke)', all(r, (x) => x.task === c2.task) &&
    r.body.items.length === 5 && r.body.next === null, r.text);
  r = await q(`?agent=${encodeURIComponent(SUB2)}&decision=deny`);
  t.check('?agent&decision=deny: the grandchild\'s two denials', all(r, (x) => x.agent === SUB2 && x.decision === 'deny') &&
    r.body.items.length === 2, r.text);
  r = await q('?event=task.revoke');
  t.check('?event=task.revoke: the revocation', all(r, (x) => x.event === 'task.revoke') && r.body.items.length === 1 &&
    r.body.items[0].task === c2.task, r.text);
  r = await q('?tool=orders.read&downstream=orders-api&decision=allow');
  t.check('?tool&downstream&decision: the three allowed calls', all(r, (x) => x.tool === 'orders.read' &&
    x.downstream === 'orders-api' && x.decision === 'allow') && r.body.items.length === 3, r.text);
  r = await q('?human=alice&intent=refunds&event=task.exchange');
  t.check('?human&intent&event: the three exchanges on behalf of alice', all(r, (x) => x.human === 'alice' &&
    x.event === 'task.exchange') && r.body.items.length === 3, r.text);
  r = await q(`?since=${t0}&until=${new Date(Date.now() + 60000).toISOString()}&event=check`);
  t.check('?since (ms) &until (RFC 3339): the checks in the window', all(r, (x) => x.event === 'check') &&
    r.body.items.length === 5, r.text);
  r = await q(`?until=${t0}&event=check`);
  t.check('?until before the calls: none', r.status === 200 && r.body.items.length === 0 && r.body.next === null, r.text);
  r = await q('?event=check&limit=2');
  const p1 = r.body || {};
  r = await q(`?event=check&limit=2&after=${p1.next}`);
  t.check('?limit pages by seq: next is the last seq, the next page follows it', p1.items && p1.items.length === 2 &&
    p1.next === p1.items[1].seq && r.status === 200 && r.body.items.length === 2 && r.body.items[0].seq > p1.next, r.text);
  r = await q(`?event=killswitch.engage&agent=${encodeURIComponent(SUB1)}`);
  t.check('?event=killswitch.engage&agent: the kill switch record', all(r, (x) => x.resource === `killswitch:agent:${SUB1}`) &&
    r.body.items.length === 1, r.text);
  r = await q('?decision=allow', keys.security);
  t.check('security may query', r.status === 200, r.text);
  r = await q('?limit=1000', keys.carol);
  t.check('carol (owner) reads only her agents\' records', all(r, (x) => x.agent === ORPHAN), r.text.slice(0, 400));
  r = await q(`?agent=${encodeURIComponent(REFUND_BOT)}`, keys.carol);
  t.check('carol filtering on alice\'s agent: an empty page', r.status === 200 && r.body.items.length === 0 &&
    r.body.next === null, r.text);
  r = await q('?limit=1000', keys.alice);
  t.check('alice (owner) reads only her agents\' records (not bob\'s sub-agent\'s)', all(r, (x) =>
    [REFUND_BOT, SUB1, RISKY, STAGING].includes(x.agent)) && r.body.items.some((x) => x.agent === SUB1), r.text.slice(0, 400));
  const ap = await q('?limit=2', keys.alice);
  r = await q(`?limit=1000&after=${ap.body.next}`, keys.alice);
  t.check('an owner pages with next like everyone', ap.status === 200 && ap.body.items.length === 2 &&
    ap.body.next === ap.body.items[1].seq && all(r, (x) => x.seq > ap.body.next), r.text.slice(0, 300));
  for (const [qs, field] of [['?agnet=x', 'agnet'], ['?decision=maybe', 'decision'], ['?since=yesterday', 'since'],
    ['?since=2026-02-30T00:00:00Z', 'since'], [`?since=${t0}&until=${t0}`, 'until'], ['?limit=0', 'limit'],
    ['?limit=1001', 'limit'], ['?after=-1', 'after'], ['?task=', 'task'], ['?task=a&task=b', 'task'],
    ['?agent', 'agent'], [`?tool=${'x'.repeat(200)}`, 'tool']]) {
    r = await q(qs);
    t.check(`400 naming the parameter: ${qs.slice(0, 40)}`, r.status === 400 && r.body.field === field &&
      /problem\+json/.test('application/problem+json'), r.text);
  }

  // ---- the CLI query ------------------------------------------------------------------------------------
  c = cli(['query', '--agent', SUB2, '--decision', 'deny', '--json']);
  let qj = null;
  try { qj = JSON.parse(c.stdout); } catch { /* */ }
  t.check('mandate audit query --json: the same page as the API', c.status === 0 && qj &&
    qj.items.length === 2 && qj.items.every((x) => x.agent === SUB2 && x.decision === 'deny'), c.stdout + c.stderr);
  c = cli(['query', '--task', c2.task]);
  t.check('mandate audit query: a table with every record of the task', c.status === 0 &&
    /^SEQ +TIME +EVENT/.test(c.stdout) && (c.stdout.match(/\n\d+ /g) || []).length === 5 &&
    c.stdout.includes('task.revoke') && c.stdout.includes('(5 records)'), c.stdout + c.stderr);
  c = cli(['query', '--decision', 'maybe']);
  t.check('mandate audit query: a bad value: exit 2 naming it', c.status === 2 && /--decision:/.test(c.stderr), c.stderr);
  c = cli(['query', '--event', 'check', '--limit', '1']);
  t.check('mandate audit query: more pages say --after', c.status === 0 && /\(more: --after \d+\)/.test(c.stdout), c.stdout);
} catch (err) {
  t.check('no exception', false, String(err && err.stack));
} finally {
  const ex = await h.stop();
  t.check('server exits cleanly on SIGTERM (no leak under ASan)', ex && ex.code === 0,
    `${JSON.stringify(ex)} ${h.stderr.slice(-2000)}`);
}
const code = t.summary();
process.stdout.write("", () => process.exit(code)); // exit once a piped stdout is flushed
