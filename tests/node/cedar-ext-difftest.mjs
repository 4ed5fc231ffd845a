// cedar-ext-difftest.mjs: differential test of Cedar's extension types
// (src/cedar/ext_*.c) against the reference, @cedar-policy/cedar-wasm 4.10.
//
// Usage: node tests/node/cedar-ext-difftest.mjs BUILDDIR [SEED] [PER_TYPE]
//
// It mutates seed strings for ip/decimal/datetime/duration (seeded, so a run
// can be repeated), asks our implementation what it makes of each string
// (BUILDDIR/tests/unit/test_cedar_ext --values), turns every answer into a
// policy that must be satisfied (our value, our predicates, our toDate) or
// must error (we refused the string), and evaluates the whole policy set in
// cedar-wasm in one isAuthorized call.  Any policy whose outcome differs is
// printed.  Ends with "N passed, N failed".
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const require = createRequire(import.meta.url);
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const build = process.argv[2];
if (!build) {
  console.error('usage: cedar-ext-difftest.mjs BUILDDIR [SEED] [PER_TYPE]');
  process.exit(2);
}
let seed = Number(process.argv[3] || 1);
const perType = Number(process.argv[4] || 1000);
function rnd(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

const seeds = {
  ip: ['127.0.0.1', '10.0.0.1/24', '::1', 'ff02::1/16', '2001:db8::8a2e:370:7334',
    '1:2:3:4:5:6:7:8', '::', '0.0.0.0/0', '224.1.2.3', '::ffff:7f00:1', '1::/128', 'fe80::1:2',
    '255.255.255.255/32', '1.2.3.4/08', '::ffff:1.2.3.4'],
  decimal: ['1.0', '-0.1', '123.4567', '922337203685477.5807', '-922337203685477.5808', '0.0001',
    '007.50', '1.', '-1.2345'],
  datetime: ['2024-10-15', '2024-10-15T11:38:02Z', '2024-10-15T11:38:02.101Z',
    '2024-10-15T11:38:02+1134', '1969-12-31T23:59:59.999-2359', '0000-01-01',
    '9999-12-31T23:59:59.999Z', '2024-02-29', '1900-02-29T00:00:00Z'],
  duration: ['1d2h3m4s5ms', '-1ms', '9223372036854775807ms', '-9223372036854775808ms',
    '106751991167d', '2h30m', '1m1ms', '0s', '-106751991167d7h12m55s808ms'],
};
// No '"' or '\\': every string goes into a policy literal as is.
const alphabet = {
  ip: '0123456789abcdefABCDEF:./ fgx%',
  decimal: '0123456789.-+ e',
  datetime: '0123456789-:TZ.+ tz',
  duration: '0123456789dhms- ',
};

function mutate(s, a) {
  for (let k = 1 + rnd(3); k > 0; k--) {
    const p = rnd(s.length + 1);
    const c = a[rnd(a.length)];
    switch (rnd(4)) {
      case 0: s = s.slice(0, p) + c + s.slice(p); break;
      case 1: s = s.slice(0, p) + s.slice(p + 1); break;
      case 2: s = s.slice(0, p) + c + s.slice(p + 1); break;
      default: break;
    }
  }
  return s;
}

const cases = [];
for (const t of Object.keys(seeds)) {
  for (const s of seeds[t]) cases.push([t, s]);
  for (let i = 0; i < perType; i++) cases.push([t, mutate(seeds[t][rnd(seeds[t].length)], alphabet[t])]);
}

const helper = path.join(build, 'tests', 'unit', 'test_cedar_ext');
const run = spawnSync(helper, ['--values'], { input: cases.map(([t, s]) => `${t}\t${s}`).join('\n') + '\n' });
if (run.status !== 0) {
  console.error(`cannot run ${helper} --values`);
  process.exit(2);
}
const ours = run.stdout.toString().trim().split('\n');

const lit = (n) => (BigInt(n) === -9223372036854775808n ? '(-9223372036854775807 - 1)' : `(${n})`);
const policies = {};
const expect = {};
function add(id, cond, want) {
  policies[id] = `permit(principal, action, resource) when { ${cond} };`;
  expect[id] = want;
}
cases.forEach(([t, s], i) => {
  const r = ours[i].split('\t');
  const q = JSON.stringify(s);
  const ctor = `${t}(${q})`;
  if (r[0] !== 'ok') {
    add(`p${i}_x`, `${ctor} == ${ctor}`, 'error');
    return;
  }
  if (t === 'ip') {
    const f = r[2];
    add(`p${i}_v`, `${ctor} == ip(${JSON.stringify(r[1])})`, 'allow');
    add(`p${i}_p`, `${ctor}.isIpv4() == ${f[0] === '1'} && ${ctor}.isIpv6() == ${f[1] === '1'} && ` +
      `${ctor}.isLoopback() == ${f[2] === '1'} && ${ctor}.isMulticast() == ${f[3] === '1'}`, 'allow');
  } else if (t === 'decimal') {
    const v = BigInt(r[1]);
    const a = v < 0n ? -v : v;
    const canon = `${v < 0n ? '-' : ''}${a / 10000n}.${(a % 10000n).toString().padStart(4, '0')}`;
    add(`p${i}_v`, `${ctor} == decimal(${JSON.stringify(canon)})`, 'allow');
  } else if (t === 'datetime') {
    add(`p${i}_v`, `${ctor}.durationSince(datetime("1970-01-01")).toMilliseconds() == ${lit(r[1])}`, 'allow');
    add(`p${i}_d`, `${ctor}.toDate().durationSince(datetime("1970-01-01")).toMilliseconds() == ${lit(r[3])}`,
      r[2] === 'ok' ? 'allow' : 'error');
  } else {
    add(`p${i}_v`, `${ctor}.toMilliseconds() == ${lit(r[1])}`, 'allow');
  }
});

const ans = cedar.isAuthorized({
  principal: { type: 'U', id: 'u' }, action: { type: 'Action', id: 'a' },
  resource: { type: 'U', id: 'r' }, context: {}, policies: { staticPolicies: policies }, entities: [],
});
if (ans.type !== 'success') {
  console.error(JSON.stringify(ans.errors.slice(0, 3)));
  process.exit(2);
}
const reasons = new Set(ans.response.diagnostics.reason);
const errors = new Set(ans.response.diagnostics.errors.map((e) => e.policyId));
let failed = 0;
for (const [id, want] of Object.entries(expect)) {
  const got = reasons.has(id) ? 'allow' : errors.has(id) ? 'error' : 'deny';
  if (got !== want) {
    failed++;
    const i = Number(id.slice(1).split('_')[0]);
    if (failed <= 30) {
      console.log(`MISMATCH ${id}: ${cases[i][0]}(${JSON.stringify(cases[i][1])}) ours "${ours[i]}": ` +
        `reference gives ${got}, expected ${want}`);
    }
  }
}
const total = Object.keys(expect).length;
console.log(`${total - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
