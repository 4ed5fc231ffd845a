// cedar-schema-json-difftest.mjs: differential test of the JSON schema
// syntax (src/cedar/schema_json.c) against @cedar-policy/cedar-wasm 4.10.
//
// Usage: node tests/node/cedar-schema-json-difftest.mjs MANDATE SUITEDIR [SEED] [NCORPUS] [NGEN]
//
// For each schema S the reference accepts (corpus schemas, a seeded sample,
// and schemas from cedar-gen.mjs), with R = the reference's resolved schema
// (schemaToJsonWithResolvedTypes) in canonical form, two items:
//   to-json:   `mandate schema to-json S`, canonicalized, equals R, and the
//              reference accepts it as a JSON schema;
//   from-json: the reference's schemaToJson(S), given to `mandate schema
//              from-json`, gives Cedar text whose resolved form (by the
//              reference) equals R.
// Ends with "N passed, N failed".
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonReference } from './cedar-schema-canon.mjs';

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
const NCORPUS = Number(process.argv[5] ?? 300);
const NGEN = Number(process.argv[6] ?? 200);
if (!mandate || !suite) {
  console.error('usage: cedar-schema-json-difftest.mjs MANDATE SUITEDIR [SEED] [NCORPUS] [NGEN]');
  process.exit(2);
}


function sortedJson(v) {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-sjson-'));
let passed = 0, failed = 0, n = 0;
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
function resolved(text) {
  try {
    const r = cedar.schemaToJsonWithResolvedTypes(text);
    return r.type === 'success' ? sortedJson(canonReference(r.json)) : undefined;
  } catch {
    return undefined;
  }
}

function check(text, what) {
  const R = resolved(text);
  if (R === undefined) return;
  const file = path.join(tmp, `s${n++}.cedarschema`);
  fs.writeFileSync(file, text);
  const a = run(['schema', 'to-json', file]);
  if (a.code !== 0) {
    fail('to-json', what, a.err.trim());
  } else {
    const j = JSON.parse(a.out);
    let mine;
    try { mine = sortedJson(canonReference(j)); } catch (err) { mine = String(err); }
    const acc = cedar.checkParseSchema(j).type === 'success';
    if (mine === R && acc) passed++;
    else fail('to-json', what, acc ? `ours ${mine.slice(0, 400)}\n  ref  ${R.slice(0, 400)}` : 'the reference refuses our JSON');
  }
  const rj = cedar.schemaToJson(text);
  if (rj.type !== 'success') return;
  const jfile = path.join(tmp, `s${n}.json`);
  fs.writeFileSync(jfile, JSON.stringify(rj.json));
  const b = run(['schema', 'from-json', jfile]);
  if (b.code !== 0) {
    fail('from-json', what, b.err.trim());
    return;
  }
  const R2 = resolved(b.out);
  if (R2 === R) passed++;
  else fail('from-json', what, `our text:\n${b.out.slice(0, 500)}\n  resolves to ${String(R2).slice(0, 300)}\n  want ${R.slice(0, 300)}`);
}

const corpus = path.join(suite, 'corpus-tests');
if (fs.existsSync(corpus)) {
  let files = fs.readdirSync(corpus).filter((f) => f.endsWith('.cedarschema')).sort();
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
}
for (let i = 0; i < NGEN; i++) {
  const S = gen.genSchema(gen.rngFrom(seed * 7919 + i));
  check(S.text, `generated#${i}`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${n} schemas`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
