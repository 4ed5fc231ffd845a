// bench/cedar-validate.mjs MANDATE [N]: validation speed.  Generates a
// 200-entity-type schema (hierarchy, optional attributes, 20 actions over 10
// principal and 10 resource types each) and N policies (default 2,000) of
// mixed scopes, writes them under $TMPDIR, then times strict validation of
// the whole set (parse included) by `mandate policy validate` and by
// cedar-wasm's validate() on the same text: best of 5 runs each, policies
// per second and the ratio.  Needs scripts/test-setup (cedar-wasm).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../tests/node/package.json'));
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const mandate = process.argv[2];
const N = Number(process.argv[3] || 2000);
if (!mandate) {
    console.error('usage: node bench/cedar-validate.mjs MANDATE [N]');
    process.exit(2);
}
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const T = 200, A = 20;
let schema = '';
for (let i = 0; i < T; i++) {
    const parents = i > 0 ? ` in [E${Math.floor(i / 2)}]` : '';
    schema += `entity E${i}${parents} = { name: String, level: Long, labels: Set<String>, opt?: Long, owner: E${(i + 1) % T}, meta: { a: Long, b?: String } };\n`;
}
for (let k = 0; k < A; k++) {
    const ps = [], rs = [];
    for (let j = 0; j < 10; j++) { ps.push(`E${(k * 10 + j) % T}`); rs.push(`E${(k * 7 + j * 3 + 100) % T}`); }
    schema += `action a${k} appliesTo { principal: [${ps.join(', ')}], resource: [${rs.join(', ')}], context: { ip: ipaddr, n: Long, when?: datetime } };\n`;
}
const conds = [
    'principal.level > context.n',
    'principal has opt && principal.opt < 10',
    'resource.name like "doc-*"',
    'context.ip.isInRange(ip("10.0.0.0/8"))',
    'principal.labels.contains("admin") || resource.meta.a == 1',
    'if resource.meta has b then resource.meta.b == "x" else principal.owner.level > 2',
    'context has when && context.when < datetime("2030-01-01")',
];
let pols = '';
for (let i = 0; i < N; i++) {
    const k = rnd(A);
    const p = `E${(k * 10 + rnd(10)) % T}`;
    const pscope = rnd(3) === 0 ? 'principal' : `principal is ${p}`;
    const ascope = rnd(4) === 0 ? 'action' : `action == Action::"a${k}"`;
    const c = [conds[rnd(conds.length)], conds[rnd(conds.length)]].map((x) => '(' + x + ')').join(' && ');
    pols += `${rnd(5) === 0 ? 'forbid' : 'permit'}(${pscope}, ${ascope}, resource) when { ${c} };\n`;
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-validate-bench-'));
fs.writeFileSync(path.join(dir, 's.cedarschema'), schema);
fs.writeFileSync(path.join(dir, 'p.cedar'), pols);

function best(f) {
    let b = Infinity;
    for (let i = 0; i < 5; i++) { const t0 = process.hrtime.bigint(); f(); b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e6); }
    return b;
}
let mres;
const mms = best(() => { mres = spawnSync(mandate, ['policy', 'validate', '--schema', path.join(dir, 's.cedarschema'), path.join(dir, 'p.cedar')], { encoding: 'utf8' }); });
let wres = { type: 'success', validationErrors: [] };
const wms = process.env.CEDAR_BENCH_NO_WASM ? 1 : best(() => { wres = cedar.validate({ schema, policies: { staticPolicies: pols }, validationSettings: { mode: 'strict' } }); });
const mok = mres.status === 0, wok = wres.type === 'success' && wres.validationErrors.length === 0;
console.log(`schema: ${T} entity types, ${A} actions; ${N} policies (${dir})`);
console.log('| engine | verdict | best of 5 (ms) | policies/s | ratio |');
console.log('|---|---|---:|---:|---:|');
console.log(`| mandate policy validate (process, parse included) | ${mok ? 'valid' : 'invalid'} | ${mms.toFixed(1)} | ${Math.round(N / mms * 1000)} | ${(wms / mms).toFixed(1)}x |`);
console.log(`| cedar-wasm 4.10 validate (parse included) | ${wok ? 'valid' : 'invalid'} | ${wms.toFixed(1)} | ${Math.round(N / wms * 1000)} | 1x |`);
if (mok !== wok) {
    console.log('verdicts differ:', (mres.stdout || '').split('\n').slice(0, 5).join('\n'), JSON.stringify(wres).slice(0, 500));
    process.exit(1);
}
if (mok && wok && !process.env.CEDAR_BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
else console.log((mres.stdout || "").split("\n").slice(0, 3).join("\n") + (mres.stderr || "").slice(0, 300), JSON.stringify(wres).slice(0, 300));
