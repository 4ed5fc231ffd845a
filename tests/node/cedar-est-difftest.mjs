// cedar-est-difftest.mjs: differential test of the JSON policy format and the
// formatter (src/cedar/est.c, format.c) against @cedar-policy/cedar-wasm 4.10.
//
// Usage: node tests/node/cedar-est-difftest.mjs MANDATE SUITEDIR [SEED] [NCORPUS] [NGEN]
//   NCORPUS corpus policy files (a seeded sample of SUITEDIR's; 0 = all) and
//   NGEN generated policy sets (cedar-gen.mjs, mutated or not, kept when the
//   reference parses them).
//
// For each policy set text P the reference parses, one item each:
//   est:     `mandate policy to-json P` equals policyToJson/templateToJson of
//            every policy of P (as JSON values, compared as multisets);
//   fmt-idem: `mandate policy format` of P, formatted again, is unchanged;
//   fmt-same: the formatted text has the same JSON form as P (ours), and the
//            reference parses it to the same JSON too.
// Also counted (information, not items): how often our layout is byte-equal
// to the reference's formatPolicies.  Ends with "N passed, N failed".
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
let cedar;
try {
  cedar = require('@cedar-policy/cedar-wasm/nodejs');
} catch {
  console.log('skipped: @cedar-policy/cedar-wasm not installed (scripts/test-setup)');
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
const gen = await import('./cedar-gen.mjs');

const [mandate, suite] = process.argv.slice(2, 4);
const seed = Number(process.argv[4] || 1);
const NCORPUS = Number(process.argv[5] ?? 400);
const NGEN = Number(process.argv[6] ?? 300);
if (!mandate || !suite) {
  console.error('usage: cedar-est-difftest.mjs MANDATE SUITEDIR [SEED] [NCORPUS] [NGEN]');
  process.exit(2);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-est-'));
let passed = 0, failed = 0, fmtEqual = 0, fmtCompared = 0, skippedComments = 0;
const shown = {};

function fail(kind, what, detail) {
  failed++;
  shown[kind] = (shown[kind] || 0) + 1;
  if (shown[kind] <= 5) console.log(`FAIL ${kind} ${what}: ${detail}`);
}

function run(args) {
  const r = spawnSync(mandate, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// JSON.stringify with sorted keys (values compared regardless of key order).
function canon(v) {
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// The reference's JSON of every policy and template of a text, as two sorted
// lists of canonical strings; null when it does not parse.
function refJson(text) {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') return null;
  const st = [], tp = [];
  for (const p of parts.policies) {
    const j = cedar.policyToJson(p);
    if (j.type !== 'success') return null;
    st.push(canon(j.json));
  }
  for (const t of parts.policy_templates) {
    const j = cedar.templateToJson(t);
    if (j.type !== 'success') return null;
    tp.push(canon(j.json));
  }
  return { st: st.sort(), tp: tp.sort() };
}

function ourJson(file) {
  const r = run(['policy', 'to-json', '--compact', file]);
  if (r.code !== 0) return { error: r.err.trim() };
  const j = JSON.parse(r.out);
  return {
    st: Object.values(j.staticPolicies).map(canon).sort(),
    tp: Object.values(j.templates).map(canon).sort(),
  };
}

function sameLists(a, b) {
  return a.st.length === b.st.length && a.tp.length === b.tp.length &&
    a.st.every((x, i) => x === b.st[i]) && a.tp.every((x, i) => x === b.tp[i]);
}

function firstDiff(a, b) {
  const all = [...a.st, ...a.tp], bll = [...b.st, ...b.tp];
  for (let i = 0; i < Math.max(all.length, bll.length); i++) {
    if (all[i] !== bll[i]) return `ours ${(all[i] || '').slice(0, 300)}\n     ref  ${(bll[i] || '').slice(0, 300)}`;
  }
  return 'count differs';
}

let n = 0;
function check(text, what) {
  const ref = refJson(text);
  if (ref === null) return; // the reference refuses it: not a case here
  const file = path.join(tmp, `p${n++}.cedar`);
  fs.writeFileSync(file, text);
  const ours = ourJson(file);
  if (ours.error) {
    fail('est', what, 'we refuse it: ' + ours.error);
    return;
  }
  if (sameLists(ours, ref)) passed++;
  else fail('est', what, firstDiff(ours, ref));

  const f1 = run(['policy', 'format', file]);
  if (f1.code !== 0) {
    if (/has comments/.test(f1.err)) { skippedComments++; return; }
    fail('fmt-idem', what, 'format failed: ' + f1.err.trim());
    return;
  }
  const ffile = path.join(tmp, `f${n}.cedar`);
  fs.writeFileSync(ffile, f1.out);
  const f2 = run(['policy', 'format', '--check', ffile]);
  if (f2.code === 0) passed++;
  else fail('fmt-idem', what, `formatting twice changes the text:\n${f1.out.slice(0, 400)}`);

  const ours2 = ourJson(ffile);
  const ref2 = refJson(f1.out);
  if (!ours2.error && ref2 !== null && sameLists(ours2, ours) && sameLists(ref2, ref)) passed++;
  else fail('fmt-same', what, ours2.error || (ref2 === null ? 'the reference refuses our formatted text:\n' + f1.out.slice(0, 400) : firstDiff(ours2, ours)));

  const rf = cedar.formatPolicies({ policyText: text });
  if (rf.type === 'success') {
    fmtCompared++;
    if (rf.formatted_policy === f1.out) fmtEqual++;
  }
}

// Corpus policies: a seeded sample (the same on every run).
const corpus = path.join(suite, 'corpus-tests');
if (fs.existsSync(corpus)) {
  let files = fs.readdirSync(corpus).filter((f) => f.endsWith('.cedar')).sort();
  const seen = new Set();
  files = files.filter((f) => {
    const t = fs.readFileSync(path.join(corpus, f), 'utf8');
    if (seen.has(t)) return false;
    seen.add(t);
    return true;
  });
  if (NCORPUS > 0 && files.length > NCORPUS) {
    const r = gen.rngFrom(seed);
    const pick = new Set();
    while (pick.size < NCORPUS) pick.add(files[r.int(files.length)]);
    files = [...pick].sort();
  }
  for (const f of files) check(fs.readFileSync(path.join(corpus, f), 'utf8'), 'corpus-tests/' + f);
} else {
  console.log(`note: ${corpus} not found, generated cases only`);
}
// Generated policy sets (parser-acceptance generator: mutated texts included).
for (let i = 0; i < NGEN; i++) {
  const c = gen.genParseCase(seed * 100003 + i);
  check(c.text, `generated#${i}`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${n} policy sets; our layout equals the reference's formatPolicies on ${fmtEqual} of ${fmtCompared}; ${skippedComments} with comments not formatted`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
