// demo-e2e.mjs: `make run`'s path end to end: scripts/run-local on a fresh
// store (loads examples/: registry, demo issuer, schema, policies) and then
// `mandate demo` against it, checking its exit status and key lines; then
// the demo's failure modes (an untrusted issuer key: exit 1; no server: 2).
//
// Usage: node demo-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { Results, here } from './access-harness.mjs';

const bin = process.argv[2] || process.env.MANDATE_BIN;
if (!bin || !existsSync(bin)) {
  console.log(`skipped: mandate binary not found (${bin})`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
for (const tool of ['python3', 'curl']) {
  if (spawnSync(tool, ['--version']).status !== 0) {
    console.log(`skipped: ${tool} not found (scripts/run-local needs it)`);
    console.log('0 passed, 0 failed, 1 skipped');
    process.exit(0);
  }
}
const root = resolve(here, '..', '..');
const mandate = resolve(bin);
const t = new Results();

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// Starts scripts/run-local and resolves with its banner once it is serving.
function runLocal(db, listen) {
  const p = spawn('sh', ['scripts/run-local', mandate, db, listen],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  let out = '', err = '';
  const ready = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`run-local timed out: ${out} ${err}`)), 30000);
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops')) { clearTimeout(timer); res(out); }
    });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => { clearTimeout(timer); rej(new Error(`run-local exited ${code}: ${err}`)); });
  });
  return { p, ready, stderr: () => err, exited: new Promise((res) => p.on('exit', (c, s) => res({ c, s }))) };
}

function demo(args) {
  return spawnSync(mandate, ['demo', ...args], { cwd: root, encoding: 'utf8', timeout: 60000 });
}

const dir = mkdtempSync(join(tmpdir(), 'mandate-demo-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
let rl = null;
try {
  rl = runLocal(join(dir, 'mandate.db'), `127.0.0.1:${port}`);
  const banner = await rl.ready;
  const key = (banner.match(/admin API key: (mdk_\S+)/) || [])[1];
  t.check('run-local loads the examples', /loaded examples\/registry\.json \(.*1 trust_issuers.*policies\.cedar \(active\)\)/.test(banner), banner);
  t.check('run-local prints the admin key', !!key, banner);
  t.check('run-local prints the demo command', banner.includes(`demo --url ${url} --key ${key}`), banner);

  const r = demo(['--url', url, '--key', key, '--issuer-key', 'examples/demo-issuer.jwk']);
  const o = r.stdout || '';
  t.check('demo exits 0', r.status === 0, `${r.status} ${o} ${r.stderr}`);
  t.check('demo: exchange issues a DPoP-bound task', /exchange +task tsk_\S+ for intent refund-customer, \d+ s, DPoP-bound/.test(o), o);
  t.check('demo: allowed calls', (o.match(/crm\.read\/read +ALLOW \(call-tool\)/g) || []).length === 6, o);
  t.check('demo: policy refusal names the policy', /payments\.refund\/create +DENY +\(sensitive-tool-needs-human\)/.test(o), o);
  t.check('demo: drift revokes', /drift +web\.search\/query +DENY +\(tool_not_granted.*task_revoked\): task revoked/.test(o), o);
  t.check('demo: cut off after drift', /cut off +crm\.read\/read +DENY +\(revoked, task_ended\)/.test(o), o);
  t.check('demo: completion', /complete +the agent completes task tsk_\S+: 200, state completed/.test(o), o);
  t.check('demo: no call after completion', /after end +crm\.read\/read +DENY +\(completed, task_ended\)/.test(o), o);
  t.check('demo: delegation to the sub-agent, proven by the parent\'s key',
    /delegate +task tsk_\S+ -> sub-task tsk_\S+ for spiffe:\/\/corp\.example\/agents\/crm-lookup\n +granted crm\.read\[read\], 3 calls carved[^\n]*\n +proven by the parent's key, bound to the sub-agent's key/.test(o), o);
  t.check('demo: the sub-agent\'s call inside its sub-task is allowed', /sub-agent +crm\.read\/read +ALLOW/.test(o), o);
  t.check('demo: the sub-agent\'s widening is refused', /widening +payments\.refund\/create +DENY +\(tool_not_granted/.test(o), o);
  t.check('demo: the parent goes on', /parent +crm\.read\/read +ALLOW/.test(o), o);
  t.check('demo: kill switch engaged for the owner', /kill switch ENGAGED for every agent of owner alice: [1-9]\d* task\(s\) revoked/.test(o), o);
  t.check('demo: the agent\'s next call is denied', /after kill +crm\.read\/read +DENY +\(revoked, task_ended\)/.test(o), o);
  t.check('demo: a new task is refused while engaged', /exchange +DENIED 403 access_denied: killswitch_engaged/.test(o), o);
  t.check('demo: lifted, the agent works again', /kill switch LIFTED for owner alice[^\n]*\n(.*\n){2,3}.*call +crm\.read\/read +ALLOW/.test(o), o);
  t.check('demo: summary line', /demo: 30 steps, every decision as expected/.test(o), o);

  // The trail has the story: exchanges, checks, the revocation, the completion.
  const a = await fetch(`${url}/v1/audit?limit=1000`, { headers: { authorization: `Bearer ${key}` } });
  const items = a.ok ? (await a.json()).items || [] : [];
  const events = new Set(items.map((x) => x.event));
  t.check('audit holds the story', ['check', 'task.revoke', 'task.complete', 'killswitch.engage',
    'killswitch.lift'].every((ev) => events.has(ev)), JSON.stringify([...events]));
  t.check('audit holds the delegation (action Delegate, the chain)', items.some((x) => x.event === 'task.exchange' &&
    x.action === 'Delegate' && x.decision === 'allow' && JSON.stringify(x.actor_chain).includes('crm-lookup')),
    JSON.stringify(items.filter((x) => x.action === 'Delegate').slice(0, 1)));
  const ks = await fetch(`${url}/v1/killswitch`, { headers: { authorization: `Bearer ${key}` } });
  const ksb = ks.ok ? await ks.json() : null;
  t.check('the demo leaves no kill switch engaged', ksb && ksb.engaged.length === 0, JSON.stringify(ksb));

  // A second run works too (fresh pep key, fresh tasks).
  t.check('demo runs again', demo(['--url', url, '--key', key]).status === 0);

  // docs/api.md's examples (every endpoint, each with its expected status) run in
  // tests/node/docs-api-e2e.mjs against a server of their own.

  // An issuer key nobody registered: the exchange is refused, exit 1.
  const bad = join(dir, 'other.jwk');
  const g = spawnSync(mandate, ['key', 'generate', '--kid', 'corp-demo-1'], { encoding: 'utf8' });
  writeFileSync(bad, g.stdout);
  const rb = demo(['--url', url, '--key', key, '--issuer-key', bad]);
  t.check('untrusted issuer key: exit 1, exchange denied',
    rb.status === 1 && /exchange +DENIED 400 invalid_grant/.test(rb.stdout), `${rb.status} ${rb.stdout} ${rb.stderr}`);
  const rk = demo(['--url', url, '--key', 'mdk_nope_nope']);
  t.check('wrong admin key: exit 2', rk.status === 2 && /pep key/.test(rk.stderr), `${rk.status} ${rk.stderr}`);
} catch (err) {
  t.check('demo e2e ran', false, String(err && err.stack || err));
} finally {
  if (rl) {
    rl.p.kill('SIGTERM');
    await rl.exited;
    // Under ASan/LSan the server reports leaks and errors on its stderr at exit.
    t.check('the server exits clean (no sanitizer report)',
      !/AddressSanitizer|LeakSanitizer|runtime error/.test(rl.stderr()), rl.stderr().slice(-2000));
  }
}
const rn = demo(['--url', `http://127.0.0.1:${port}`, '--key', 'x']);
t.check('no server: exit 2', rn.status === 2, `${rn.status} ${rn.stderr}`);
t.check('usage: exit 2', demo(['--bogus']).status === 2);
t.check('help: exit 0', demo(['--help']).status === 0);
rmSync(dir, { recursive: true, force: true });
process.exit(t.summary());
