// cedar-wasm.mjs: the reference's figures on the same inputs, and the table.
//
//   node bench/cedar-wasm.mjs DIR C_RESULTS_FILE
//
// For each scenario that cedar_bench measured (its "result ..." lines), times
// cedar-wasm's fastest path, statefulIsAuthorized with a preparsed policy set
// (no schema, like cedar_bench), one call per request, and its policy parse
// and entity parse rates; then prints one table comparing both engines.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmPath = path.join(here, '..', 'tests', 'node', 'node_modules', '@cedar-policy', 'cedar-wasm', 'nodejs', 'cedar_wasm.js');
const [dir, cfile] = process.argv.slice(2);
if (!dir || !cfile) {
    console.error('usage: node bench/cedar-wasm.mjs DIR C_RESULTS_FILE');
    process.exit(2);
}
let cedar;
try {
    cedar = await import(wasmPath);
} catch (e) {
    console.error('cedar-wasm not installed (run scripts/test-setup): ' + e.message.split('\n')[0]);
    process.exit(1);
}

const C = {};
for (const line of fs.readFileSync(cfile, 'utf8').split('\n')) {
    const m = /^result (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const o = {};
    for (const kv of m[2].split(' ')) {
        const [k, v] = kv.split('=');
        o[k] = Number(v);
    }
    C[m[1]] = o;
}

const ns = () => process.hrtime.bigint();
const WASM_BUDGET_NS = 3000000000n; // per scenario

function measure(name) {
    const d = path.join(dir, name);
    const text = fs.readFileSync(path.join(d, 'policies.cedar'), 'utf8');
    const entities = JSON.parse(fs.readFileSync(path.join(d, 'entities.json'), 'utf8'));
    const reqs = fs.readFileSync(path.join(d, 'requests.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    // Parse rate (checkParsePolicySet parses the whole text).
    let t0 = ns(), it = 0;
    do { cedar.checkParsePolicySet({ staticPolicies: text }); it++; } while (ns() - t0 < 300000000n);
    const parseMBps = (Buffer.byteLength(text) * it) / (Number(ns() - t0) / 1e9) / 1e6;
    t0 = ns(); it = 0;
    do { cedar.checkParseEntities({ entities }); it++; } while (ns() - t0 < 300000000n);
    const loadEps = (entities.length * it) / (Number(ns() - t0) / 1e9);
    const pre = cedar.preparsePolicySet(name, { staticPolicies: text });
    if (pre.type !== 'success') throw new Error(name + ': ' + JSON.stringify(pre.errors));
    const call = (q) => cedar.statefulIsAuthorized({ ...q, preparsedPolicySetId: name, entities });
    for (let i = 0; i < Math.min(20, reqs.length); i++) call(reqs[i]); // warm up
    // cedar_bench wrote its decisions ('A'/'D' per request): compare.
    let ours = '';
    try { ours = fs.readFileSync(path.join(d, 'mandate-decisions.txt'), 'utf8').trim(); } catch { /* none */ }
    let agree = 0, differ = 0;
    const run = (ents) => {
        const samples = [];
        let allows = 0;
        const start = ns();
        for (const q of reqs) {
            const e = ents(q);
            const a = ns();
            const r = cedar.statefulIsAuthorized({ ...q, preparsedPolicySetId: name, entities: e });
            samples.push(Number(ns() - a) / 1000);
            if (r.type !== 'success') throw new Error(name + ': ' + JSON.stringify(r.errors));
            if (r.response.decision === 'allow') allows++;
            const k = samples.length - 1;
            if (k < ours.length) (ours[k] === (r.response.decision === 'allow' ? 'A' : 'D') ? agree++ : differ++);
            if (ns() - start > WASM_BUDGET_NS) break;
        }
        samples.sort((x, y) => x - y);
        return { med: samples[samples.length >> 1], p99: samples[Math.floor(samples.length * 0.99)], n: samples.length, allows };
    };
    // The wasm API takes the entities with every call, so a decision also
    // converts them all.  "slice" passes only what the request can reach
    // (principal, resource, action, their ancestors, entities their
    // attributes name): the reference's best case.
    const byKey = new Map(entities.map((e) => [e.uid.type + '::' + e.uid.id, e]));
    const slice = (q) => {
        const out = new Map();
        const add = (u, follow) => {
            const k = u.type + '::' + u.id;
            const e = byKey.get(k);
            if (!e || out.has(k)) return;
            out.set(k, e);
            e.parents.forEach((p) => add(p, false));
            if (follow) for (const v of Object.values(e.attrs)) if (v && v.__entity) add(v.__entity, false);
        };
        [q.principal, q.action, q.resource].forEach((u) => add(u, true));
        for (const v of Object.values(q.context)) if (v && v.__entity) add(v.__entity, false);
        return [...out.values()];
    };
    const full = run(() => entities);
    const sl = run(slice);
    return { ...full, slice: sl, parseMBps, loadEps, nreq: reqs.length, agree, differ };
}

const f = (x, w, p = 2) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(p)).padStart(w);
const rows = [];
console.log('Cedar decisions, microseconds per decision (median / p99); cedar-wasm ' + cedar.getCedarVersion() +
    ' statefulIsAuthorized with a preparsed policy set; both schemaless.');
console.log('scenario     policies entities | mandate  med     p99 | wasm     med      p99 | speedup | wasm-slice med     p99 | speedup | same decision');
for (const [name, c] of Object.entries(C)) {
    const w = measure(name);

    rows.push({ name, c, w });
    console.log(name.padEnd(12) + ' ' + String(c.policies).padStart(8) + ' ' + String(c.entities).padStart(8) + ' | ' +
        f(c.median_us, 11) + ' ' + f(c.p99_us, 7) + ' | ' + f(w.med, 10) + ' ' + f(w.p99, 8) + ' | ' +
        (f(w.med / c.median_us, 6, 0) + 'x') + ' | ' + f(w.slice.med, 14) + ' ' + f(w.slice.p99, 7) + ' | ' +
        (f(w.slice.med / c.median_us, 6, 0) + 'x') + ' | ' + w.agree + '/' + (w.agree + w.differ));
}
console.log('');
console.log('scenario     | parse MB/s mandate   wasm | entities/s mandate      wasm');
for (const { name, c, w } of rows) {
    console.log(name.padEnd(12) + ' | ' + f(c.parse_mbps, 18, 1) + ' ' + f(w.parseMBps, 6, 1) + ' | ' +
        f(c.load_eps, 18, 0) + ' ' + f(w.loadEps, 9, 0));
}
console.log('(wasm times as many requests as fit in ' + Number(WASM_BUDGET_NS / 1000000000n) + ' s per column; "same decision" counts the requests' +
    ' both engines answered)');
const a = C['estate-50'], b = C['estate-5000'];
if (a && b) {
    console.log('');
    console.log('index flatness: median(5,000 policies) / median(50 policies) = ' + (b.median_us / a.median_us).toFixed(2) +
        ' (goal <= 2)');
}
