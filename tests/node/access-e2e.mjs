// access-e2e.mjs: the token exchange end to end against the real server:
// workload credentials, human ID tokens and DPoP proofs minted by npm `jose`,
// issued task tokens verified by `jose` against /.well-known/jwks.json.
//
// Usage: node access-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).

import { setup, REFUND_BOT, RESEARCH, RISKY, ORPHAN, STAGING, GT, TT_ID } from './access-harness.mjs';

const { jose, t, h } = await setup();
const refunds = { type: 'mandate_task', intent: 'refunds' };
const research = { type: 'mandate_task', intent: 'research', data_labels: ['public'] };

// error(r, status, error, reason): an OAuth error with a reason code.
function isError(r, status, error, reason) {
  return r.status === status && r.body && r.body.error === error &&
    (reason === undefined || (Array.isArray(r.body.reasons) && r.body.reasons.includes(reason)));
}
function expectError(name, r, status, error, reason) {
  t.check(name, isError(r, status, error, reason), `${r.status} ${r.text}`);
}

try {
  await h.loadExample();

  // ---- discovery ---------------------------------------------------------------------------
  const disc = await (await fetch(`${h.base}/.well-known/openid-configuration`)).json();
  t.check('discovery names the issuer and endpoints', disc.issuer === h.base &&
    disc.token_endpoint === `${h.base}/oauth2/token` &&
    disc.authorization_details_types_supported.includes('mandate_task'), JSON.stringify(disc));
  const jwksDoc = await (await fetch(`${h.base}/.well-known/jwks.json`)).json();
  t.check('jwks publishes one public ES256 key', jwksDoc.keys.length >= 1 &&
    jwksDoc.keys[0].alg === 'ES256' && jwksDoc.keys[0].d === undefined, JSON.stringify(jwksDoc));
  const jwks = jose.createLocalJWKSet(jwksDoc);

  // ---- the autonomous task, DPoP-bound -------------------------------------------------------
  {
    const r = await h.exchange({ subject_token: await h.svid(REFUND_BOT),
      details: { ...refunds, tools: [{ name: 'payments.refund', actions: ['create'] }],
        data_labels: ['customer'], purpose: 'refund order 42', environment: 'production', ttl: 120 },
      dpopKey: h.agentKey });
    t.check('exchange: autonomous DPoP task issued', r.status === 200 && r.body.token_type === 'DPoP' &&
      r.body.expires_in === 120 && /^tsk_/.test(r.body.task), r.text);
    if (r.status === 200) {
      const { payload, protectedHeader } = await jose.jwtVerify(r.body.access_token, jwks, {
        issuer: h.base, audience: 'mandate', typ: 'at+jwt' });
      const ad = payload.authorization_details;
      t.check('token: sub and act.sub are the agent', payload.sub === REFUND_BOT && payload.act.sub === REFUND_BOT);
      t.check('token: aud has mandate and the granted downstream', payload.aud.includes('mandate') &&
        payload.aud.includes('payments-api') && !payload.aud.includes('orders-api'), JSON.stringify(payload.aud));
      t.check('token: cnf.jkt is the DPoP key thumbprint', payload.cnf && payload.cnf.jkt === await h.thumbprint(h.agentKey));
      t.check('token: granted scope is the requested one', Array.isArray(ad) && ad.length === 1 &&
        ad[0].type === 'mandate_task' && ad[0].intent === 'refunds' && ad[0].tools.length === 1 &&
        ad[0].tools[0].name === 'payments.refund' && ad[0].data_labels.join() === 'customer' &&
        ad[0].purpose === 'refund order 42', JSON.stringify(ad));
      t.check('token: task, intent, env, jti, lifetime', payload.task === r.body.task &&
        payload.intent === 'refunds' && payload.env === 'production' &&
        /^[A-Za-z0-9_-]{22}$/.test(payload.jti) && payload.exp - payload.iat === 120 &&
        payload.nbf === payload.iat, JSON.stringify(payload));
      t.check('token: header kid is a published key', jwksDoc.keys.some((k) => k.kid === protectedHeader.kid));
      h.firstToken = r.body.access_token;
    }
  }
  {
    const r = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    const p = r.status === 200 ? jose.decodeJwt(r.body.access_token) : {};
    t.check('exchange: no tools named grants the whole intent, TTL defaults under max',
      r.status === 200 && p.authorization_details[0].tools.length === 2 && r.body.expires_in === 300, r.text);
  }
  {
    const r = await h.exchange({ subject_token: await h.svid(RESEARCH),
      details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } });
    t.check('exchange: intent without DPoP gives a Bearer token', r.status === 200 &&
      r.body.token_type === 'Bearer' && jose.decodeJwt(r.body.access_token).cnf === undefined, r.text);
  }

  // ---- on behalf of a human ------------------------------------------------------------------
  {
    const r = await h.exchange({ subject_token: await h.idToken('alice'), subject_token_type: TT_ID,
      actor_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    const p = r.status === 200 ? jose.decodeJwt(r.body.access_token) : {};
    t.check('delegated: sub is the human, act.sub the agent', r.status === 200 && p.sub === 'alice' &&
      p.act && p.act.sub === REFUND_BOT, r.text);
    const r2 = await h.exchange({ subject_token: await h.idToken('mallory'), subject_token_type: TT_ID,
      actor_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    expectError('delegated: unknown human refused', r2, 400, 'invalid_grant', 'unknown_human');
    const r3 = await h.exchange({ subject_token: await h.idToken('alice', { key: h.otherKey }),
      subject_token_type: TT_ID, actor_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    expectError('delegated: ID token with a wrong signature refused', r3, 400, 'invalid_grant', 'invalid_credential');
    const r4 = await h.exchange({ subject_token: await h.svid(REFUND_BOT), subject_token_type: TT_ID,
      actor_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    expectError('delegated: a workload credential is no human ID token', r4, 400, 'invalid_grant', 'untrusted_issuer');
    const r5 = await h.exchange({ subject_token: await h.svid(RISKY), details: refunds, dpopKey: h.agentKey });
    expectError('policy: high-risk agent alone in production denied', r5, 403, 'access_denied', 'prod-high-risk-needs-human');
    const r6 = await h.exchange({ subject_token: await h.idToken('alice'), subject_token_type: TT_ID,
      actor_token: await h.svid(RISKY), details: refunds, dpopKey: h.agentKey });
    t.check('policy: high-risk agent with a human behind it allowed', r6.status === 200, r6.text);
  }

  // ---- malformed requests ----------------------------------------------------------------------
  expectError('form: wrong content type', await h.exchange({ contentType: 'application/json', rawBody: '{}' }),
    400, 'invalid_request');
  expectError('form: empty body', await h.exchange({ rawBody: '' }), 400, 'invalid_request', 'malformed_form');
  expectError('form: not name=value', await h.exchange({ rawBody: 'grant_type' }), 400, 'invalid_request', 'malformed_form');
  expectError('form: bad percent-encoding', await h.exchange({ rawBody: 'grant_type=%zz' }), 400, 'invalid_request', 'malformed_form');
  expectError('form: NUL byte', await h.exchange({ rawBody: 'grant_type=a%00b' }), 400, 'invalid_request', 'malformed_form');
  expectError('form: unknown parameter', await h.exchange({ params: [['grant_type', GT], ['scope', 'all']] }),
    400, 'invalid_request', 'malformed_form');
  expectError('form: duplicate parameter', await h.exchange({ params: [['grant_type', GT], ['grant_type', GT]] }),
    400, 'invalid_request', 'malformed_form');
  expectError('form: missing grant_type', await h.exchange({ params: [['subject_token', 'x']] }),
    400, 'invalid_request', 'missing_parameter');
  expectError('form: other grant type', await h.exchange({ params: [['grant_type', 'client_credentials']] }),
    400, 'unsupported_grant_type');
  expectError('form: missing subject_token', await h.exchange({ params: [['grant_type', GT]] }),
    400, 'invalid_request', 'missing_parameter');
  expectError('form: missing authorization_details', await h.exchange({ subject_token: await h.svid(REFUND_BOT) }),
    400, 'invalid_request', 'missing_parameter');
  expectError('form: wrong subject_token_type', await h.exchange({ subject_token: 'x', subject_token_type: 'urn:x', details: refunds }),
    400, 'invalid_request', 'unsupported_token_type');
  {
    const big = 'a'.repeat(17 * 1024);
    const r = await h.exchange({ subject_token: big, details: refunds });
    t.check('form: body over the unauthenticated cap is 413', r.status === 413, `${r.status}`);
    const r2 = await h.exchange({ subject_token: 'e' + 'a'.repeat(12 * 1024) + '.b.c', details: refunds });
    expectError('form: oversized credential refused', r2, 400, 'invalid_grant', 'invalid_credential');
  }
  const svid = await h.svid(REFUND_BOT);
  expectError('details: not JSON', await h.exchange({ subject_token: svid, details: '[{"type":' }),
    400, 'invalid_authorization_details', 'malformed_details');
  expectError('details: duplicate key', await h.exchange({ subject_token: svid, details: '[{"type":"mandate_task","intent":"refunds","intent":"x"}]' }),
    400, 'invalid_authorization_details', 'malformed_details');
  expectError('details: unknown type', await h.exchange({ subject_token: svid, details: { type: 'payment_initiation', intent: 'refunds' } }),
    400, 'invalid_authorization_details', 'unknown_details_type');
  expectError('details: two tasks', await h.exchange({ subject_token: svid, details: [refunds, refunds] }),
    400, 'invalid_authorization_details', 'malformed_details');
  expectError('details: unknown member', await h.exchange({ subject_token: svid, details: { ...refunds, admin: true } }),
    400, 'invalid_authorization_details', 'malformed_details');
  expectError('details: ttl not a number', await h.exchange({ subject_token: svid, details: { ...refunds, ttl: '60' } }),
    400, 'invalid_authorization_details', 'malformed_details');
  expectError('details: object not array', await h.exchange({ subject_token: svid, details: JSON.stringify(refunds) }),
    400, 'invalid_authorization_details', 'malformed_details');

  // ---- credentials -------------------------------------------------------------------------------
  expectError('credential: untrusted trust domain', await h.exchange({
    subject_token: await h.svid('spiffe://evil.example/agents/refund-bot', { key: h.otherKey }), details: refunds, dpopKey: h.agentKey }),
  400, 'invalid_grant', 'untrusted_issuer');
  expectError('credential: signed by a key outside the bundle', await h.exchange({
    subject_token: await h.svid(REFUND_BOT, { key: h.otherKey }), details: refunds, dpopKey: h.agentKey }),
  400, 'invalid_grant', 'invalid_credential');
  {
    const hdr = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const pl = Buffer.from(JSON.stringify({ sub: REFUND_BOT, aud: 'mandate', exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    expectError('credential: alg none', await h.exchange({ subject_token: `${hdr}.${pl}.`, details: refunds, dpopKey: h.agentKey }),
      400, 'invalid_grant', 'invalid_credential');
  }
  expectError('credential: wrong audience', await h.exchange({
    subject_token: await h.svid(REFUND_BOT, { aud: 'someone-else' }), details: refunds, dpopKey: h.agentKey }),
  400, 'invalid_grant', 'invalid_credential');
  expectError('credential: expired', await h.exchange({
    subject_token: await h.svid(REFUND_BOT, { exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 900 }),
    details: refunds, dpopKey: h.agentKey }), 400, 'invalid_grant', 'invalid_credential');
  expectError('credential: unregistered agent', await h.exchange({
    subject_token: await h.svid('spiffe://corp.example/agents/ghost'), details: refunds, dpopKey: h.agentKey }),
  400, 'invalid_grant', 'unknown_agent');
  expectError('credential: garbage', await h.exchange({ subject_token: 'not.a.jwt', details: refunds }),
    400, 'invalid_grant', 'invalid_credential');

  // ---- the decision chain ---------------------------------------------------------------------
  expectError('chain: intent not in the entitlements', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { type: 'mandate_task', intent: 'research' } }),
  403, 'access_denied', 'intent_not_entitled');
  expectError('chain: unknown intent', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { type: 'mandate_task', intent: 'nope' } }),
  403, 'access_denied', 'intent_not_entitled');
  expectError('chain: wrong environment', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, environment: 'staging' }, dpopKey: h.agentKey }),
  403, 'access_denied', 'wrong_environment');
  {
    const r = await h.exchange({ subject_token: await h.svid(STAGING), details: { ...research, environment: 'staging' } });
    t.check('chain: staging agent in staging allowed', r.status === 200 && jose.decodeJwt(r.body.access_token).env === 'staging', r.text);
  }
  expectError('scope: tool outside the intent', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, tools: [{ name: 'crm.export', actions: ['export'] }] }, dpopKey: h.agentKey }),
  403, 'access_denied', 'scope_exceeds_intent');
  expectError('scope: unknown tool', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, tools: [{ name: 'no.such.tool', actions: ['x'] }] }, dpopKey: h.agentKey }),
  403, 'access_denied', 'scope_exceeds_intent');
  expectError('scope: action outside the intent', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, tools: [{ name: 'payments.refund', actions: ['create', 'delete'] }] }, dpopKey: h.agentKey }),
  403, 'access_denied', 'scope_exceeds_intent');
  expectError('scope: data label outside the intent', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, data_labels: ['customer', 'medical'] }, dpopKey: h.agentKey }),
  403, 'access_denied', 'scope_exceeds_intent');
  expectError('scope: downstream outside the intent', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, downstream: ['crm'] }, dpopKey: h.agentKey }),
  403, 'access_denied', 'scope_exceeds_intent');
  expectError('ttl: over the intent maximum', await h.exchange({
    subject_token: await h.svid(REFUND_BOT), details: { ...refunds, ttl: 601 }, dpopKey: h.agentKey }),
  403, 'access_denied', 'ttl_exceeds_max');

  // ---- DPoP ----------------------------------------------------------------------------------------
  expectError('dpop: required by the intent', await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds }),
    400, 'invalid_dpop_proof', 'dpop_required');
  {
    const proof = await h.dpop(h.agentKey, 'POST', `${h.base}/oauth2/token`);
    const r1 = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds, dpop: proof });
    const r2 = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds, dpop: proof });
    t.check('dpop: a fresh proof works', r1.status === 200, r1.text);
    expectError('dpop: the same proof replayed', r2, 400, 'invalid_dpop_proof', 'dpop_dpop_replay');
  }
  expectError('dpop: proof for another URL', await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds,
    dpop: await h.dpop(h.agentKey, 'POST', `${h.base}/v1/check`) }), 400, 'invalid_dpop_proof');
  expectError('dpop: proof for another method', await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds,
    dpop: await h.dpop(h.agentKey, 'GET', `${h.base}/oauth2/token`) }), 400, 'invalid_dpop_proof');
  expectError('dpop: not a JWT', await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds, dpop: 'x.y.z' }),
    400, 'invalid_dpop_proof');

  // ---- policy: deny with ids, errors fail closed -----------------------------------------------------
  expectError('policy: pii without DPoP denied with the policy id', await h.exchange({
    subject_token: await h.svid(RESEARCH), details: { type: 'mandate_task', intent: 'research', data_labels: ['pii'] } }),
  403, 'access_denied', 'pii-needs-dpop');
  {
    const bad = `@id("start") permit (principal, action, resource);
@id("broken") forbid (principal, action == Mandate::Action::"StartTask", resource) when { (principal.risk + 9223372036854775807) * 2 > 1 };`;
    await h.activatePolicy(bad);
    const r = await h.exchange({ subject_token: await h.svid(RESEARCH), details: research });
    expectError('policy: an erroring policy denies (fail closed)', r, 403, 'access_denied', 'policy_error:broken');
    const rv = await h.api('POST', `/v1/policies/${h.goodPolicy}/activate`);
    const r2 = await h.exchange({ subject_token: await h.svid(RESEARCH), details: research });
    t.check('policy: reactivating the good version serves again', rv.status < 300 && r2.status === 200, r2.text);
    const rb = await h.api('POST', '/v1/policies', { cedar: 'permit (principal, action, resource) when { ', schema: '', activate: true });
    const r3 = await h.exchange({ subject_token: await h.svid(RESEARCH), details: research });
    t.check('policy: a version that does not compile is refused, the old one serves', rb.status === 400 && r3.status === 200,
      `${rb.status} ${rb.text} / ${r3.status}`);
  }

  // ---- lifecycle: suspended agent, offboarded owner ------------------------------------------------------
  {
    const before = await h.exchange({ subject_token: await h.svid(ORPHAN), details: research });
    const off = await h.api('POST', '/v1/humans/carol/offboard', { reason: 'left the company' });
    const after = await h.exchange({ subject_token: await h.svid(ORPHAN), details: research });
    t.check('lifecycle: agent works before its owner leaves', before.status === 200 && off.status < 300, `${before.status} ${off.status} ${off.text}`);
    t.check('lifecycle: agent of an offboarded owner denied', after.status === 403 && after.body.error === 'access_denied' &&
      (after.body.reasons.includes('agent_suspended') || after.body.reasons.includes('owner_inactive')), after.text);
    const sus = await h.api('POST', `/v1/agents/${STAGING}/status`, { status: 'suspended', reason: 'test' });
    const r = await h.exchange({ subject_token: await h.svid(STAGING), details: { ...research, environment: 'staging' } });
    t.check('lifecycle: suspended agent denied', sus.status < 300 && isError(r, 403, 'access_denied', 'agent_suspended'), `${sus.status} ${r.text}`);
  }

  // ---- the audit trail: every exchange, nothing else stored on refusal ------------------------------------------
  {
    const r = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: { ...refunds, ttl: 9999 }, dpopKey: h.agentKey });
    const seq = r.body && r.body.audit_seq;
    const a = await h.api('GET', `/v1/audit?after=${seq - 1}&limit=1`);
    const rec = a.body && a.body.items && a.body.items[0];
    t.check('audit: a refusal has its record (deny, reasons, no task)', rec && rec.seq === seq && rec.event === 'task.exchange' &&
      rec.decision === 'deny' && rec.task == null && rec.agent === REFUND_BOT && JSON.stringify(rec.reasons).includes('ttl_exceeds_max'),
      JSON.stringify(rec));
    const ok = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    const a2 = await h.api('GET', `/v1/audit?after=${seq}&limit=5`);
    const allow = a2.body.items.find((x) => x.decision === 'allow');
    t.check('audit: an issuance has its record (allow, task, policy version)', ok.status === 200 && allow &&
      allow.task === ok.body.task && allow.policy_version === h.goodPolicy, JSON.stringify(a2.body.items));
  }

  // ---- restart: keys persist, old tokens still verify ------------------------------------------------------------
  {
    const kidBefore = jwksDoc.keys[0].kid;
    await h.restart();
    const doc2 = await (await fetch(`${h.base}/.well-known/jwks.json`)).json();
    t.check('restart: the same signing key is loaded from the store', doc2.keys[0].kid === kidBefore, JSON.stringify(doc2));
    let ok = false;
    try { await jose.jwtVerify(h.firstToken, jose.createLocalJWKSet(doc2), { issuer: h.base, audience: 'mandate' }); ok = true; } catch { /* */ }
    t.check('restart: a token from before verifies', ok);
    const r = await h.exchange({ subject_token: await h.svid(REFUND_BOT), details: refunds, dpopKey: h.agentKey });
    t.check('restart: exchanges work (registry, trust and policy rebuilt)', r.status === 200, r.text);
  }
  {
    const r = await fetch(`${h.base}/healthz`);
    t.check('server still answers after all of it', r.status === 200);
  }
} catch (err) {
  t.check('harness', false, err && err.stack ? err.stack : String(err));
}
const ex = await h.stop();
t.check('server exits cleanly on SIGTERM', ex && ex.code === 0, `${JSON.stringify(ex)} ${h.stderr.slice(-2000)}`);
process.exit(t.summary());
