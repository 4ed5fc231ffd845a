// killswitch.mjs: how long engaging the kill switch "all" takes with N live
// tasks (issue 7: 10,000 tasks, under one second on this machine), and that
// every one of them is refused right after the engage answered.
//
// Usage: node bench/killswitch.mjs BUILD/src/cli/mandate [N=10000] [CONCURRENCY=16]
// (needs tests/node/node_modules: scripts/test-setup).  Prints a table.
import { Harness, RESEARCH } from '../tests/node/access-harness.mjs';

const bin = process.argv[2];
const N = Number(process.argv[3] || 10000);
const C = Number(process.argv[4] || 16);
const { createRequire } = await import('node:module');
const jose = await import(createRequire(new URL('../tests/node/package.json', import.meta.url))
  .resolve('jose'));
const h = await Harness.start(bin, jose);
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;
try {
  await h.loadExample();
  const sec = (await h.must('POST', '/v1/api-keys', { name: 'sec', role: 'security' })).key;
  const pep = (await h.must('POST', '/v1/api-keys', { name: 'pep', role: 'pep' })).key;
  await h.must('PATCH', '/v1/intents/research', { call_budget: 1000 }).catch(() => {});
  const svid = await h.svid(RESEARCH, { exp: Math.floor(Date.now() / 1000) + 3600 });
  const tokens = [];
  let t0 = process.hrtime.bigint();
  let next = 0;
  const mk = async () => {
    while (next < N) {
      next++;
      const r = await h.exchange({ subject_token: svid,
        details: { type: 'mandate_task', intent: 'research', data_labels: ['public'] } });
      if (r.status !== 200) throw new Error(`exchange ${r.status} ${r.text}`);
      tokens.push(r.body.access_token);
    }
  };
  await Promise.all(Array.from({ length: C }, mk));
  const mkMs = ms(t0);
  const check = async (token) => {
    const r = await fetch(`${h.base}/v1/check`, { method: 'POST',
      headers: { authorization: `Bearer ${pep}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token, tool: 'web.search', action: 'query' }) });
    return (await r.json()).allow;
  };
  // warm the token cache of every task (as live traffic would)
  let i = 0;
  let allowedBefore = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (i < tokens.length) { if (await check(tokens[i++])) allowedBefore++; }
  }));
  t0 = process.hrtime.bigint();
  const r = await h.api('POST', '/v1/killswitch', { scope: 'all', reason: 'bench' }, sec);
  const engageMs = ms(t0);
  if (r.status !== 200) throw new Error(`engage ${r.status} ${r.text}`);
  t0 = process.hrtime.bigint();
  i = 0;
  let allowedAfter = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (i < tokens.length) { if (await check(tokens[i++])) allowedAfter++; }
  }));
  const sweepMs = ms(t0);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| live tasks made (${C} concurrent exchanges) | ${tokens.length} in ${mkMs.toFixed(0)} ms |`);
  console.log(`| checks allowed before the engage | ${allowedBefore} / ${tokens.length} |`);
  console.log(`| engage "all": answer after (client) | ${engageMs.toFixed(1)} ms |`);
  console.log(`| engage "all": server's elapsed_ms | ${r.body.elapsed_ms} ms, ${r.body.revoked} revoked |`);
  console.log(`| checks allowed after the engage answered | ${allowedAfter} / ${tokens.length} |`);
  console.log(`| one check of every task after the engage | ${sweepMs.toFixed(0)} ms |`);
} finally {
  await h.stop();
}
