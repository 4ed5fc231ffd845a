// cedar-schema-difftest.mjs: differential test of the Cedar schema parser and
// the schema-directed entities/context readers (src/cedar/schema.c, json.c)
// against the reference, @cedar-policy/cedar-wasm 4.10.
//
// Usage: node tests/node/cedar-schema-difftest.mjs BUILDDIR SUITEDIR [SEED] [N]
//   SUITEDIR: the conformance suite (…/conformance/cedar), whose corpus files
//   are the seeds.
//
// Seeded mutations of corpus schemas (mode S), entities files (E) and request
// contexts (C) are written to a temporary directory; our verdicts come from
// BUILDDIR/tests/unit/test_cedar_schema --check, the reference's from
// checkParseSchema / checkParseEntities / checkParseContext.  Only accept vs
// refuse is compared.  Ends with "N passed, N failed".
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const [build, suite] = process.argv.slice(2, 4);
if (!build || !suite) {
  console.error('usage: cedar-schema-difftest.mjs BUILDDIR SUITEDIR [SEED] [N]');
  process.exit(2);
}
if (!fs.existsSync(path.join(suite, 'corpus-tests'))) {
  console.log(`skipped: ${suite}/corpus-tests not found`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
let seed = Number(process.argv[4] || 1);
const N = Number(process.argv[5] || 1500);
function rnd(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

const corpus = path.join(suite, 'corpus-tests');
const testFiles = fs.readdirSync(corpus).filter((f) => f.endsWith('.json') && !f.endsWith('.entities.json')).sort();
const schemaToks = ['entity ', 'action ', 'type ', 'namespace ', ' in ', '[', ']', '{', '}', '<', '>', ',',
  ';', ':', '::', '?', '=', '@a ', '@b("x") ', '"', 'Set', 'Long', 'String', 'Bool', '__cedar::', 'appliesTo',
  'principal', 'resource', 'context', 'tags ', 'enum ', 'a', 'A', '\n', ' ', '//c\n', 'ipaddr', 'decimal',
  'datetime', 'duration', 'Action::"x"', '"\\u{0}"', '\\'];
const jsonToks = ['{', '}', '[', ']', ',', ':', '"', '""', '"__extn"', '"__entity"', '"fn"', '"arg"', '"ip"',
  '"1.2.3.4"', '"decimal"', '"1.0"', '1', '-1', 'true', 'null', '"type"', '"id"', '"a"', '"attrs"', '"parents"',
  '"tags"', '{"type":"a","id":""}', '{"__extn":{"fn":"datetime","arg":"2024-01-01"}}', '[]', '{}', '"Action"',
  '"2024-01-01"', '"1h"', '"A"', '"r"'];

function mutateText(s, toks) {
  for (let k = 1 + rnd(3); k > 0; k--) {
    const p = rnd(s.length + 1);
    switch (rnd(3)) {
      case 0: s = s.slice(0, p) + toks[rnd(toks.length)] + s.slice(p); break;
      case 1: s = s.slice(0, p) + s.slice(p + 1 + rnd(8)); break;
      default: {
        const q = rnd(s.length + 1);
        const piece = s.slice(Math.min(p, q), Math.min(Math.max(p, q), Math.min(p, q) + 40));
        const at = rnd(s.length + 1);
        s = s.slice(0, at) + piece + s.slice(at);
      }
    }
  }
  return s;
}

// JSON texts the reference can read exactly: JavaScript numbers lose digits
// past 2^53, so such texts are skipped.
function parseable(text) {
  if (/\d{16,}/.test(text)) return undefined;
  try { return JSON.parse(text); } catch { return undefined; }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-schema-difftest-'));
const work = { S: [], E: [], C: [] };
let made = 0;
while (made < N) {
  const t = JSON.parse(fs.readFileSync(path.join(corpus, testFiles[rnd(testFiles.length)]), 'utf8'));
  const schema = fs.readFileSync(path.join(suite, t.schema), 'utf8');
  const mode = 'SEC'[made % 3];
  const base = path.join(tmp, String(made));
  if (mode === 'S') {
    const text = mutateText(schema, schemaToks);
    fs.writeFileSync(`${base}.s`, text);
    work.S.push({ files: [`${base}.s`], ref: () => cedar.checkParseSchema(text) });
  } else if (mode === 'E') {
    const text = mutateText(fs.readFileSync(path.join(suite, t.entities), 'utf8'), jsonToks);
    const ents = parseable(text);
    if (ents === undefined) continue;
    fs.writeFileSync(`${base}.s`, schema);
    fs.writeFileSync(`${base}.e`, text);
    work.E.push({ files: [`${base}.s`, `${base}.e`], ref: () => cedar.checkParseEntities({ entities: ents, schema }) });
  } else {
    const rq = t.requests[rnd(t.requests.length)];
    const text = mutateText(JSON.stringify(rq.context), jsonToks);
    const ctx = parseable(text);
    if (ctx === undefined) continue;
    fs.writeFileSync(`${base}.s`, schema);
    fs.writeFileSync(`${base}.c`, text);
    fs.writeFileSync(`${base}.a`, `${rq.action.type}\n${rq.action.id}`);
    work.C.push({
      files: [`${base}.s`, `${base}.c`, `${base}.a`],
      ref: () => cedar.checkParseContext({ context: ctx, schema, action: rq.action }),
    });
  }
  made++;
}

const helper = path.join(build, 'tests', 'unit', 'test_cedar_schema');
let passed = 0, failed = 0;
for (const mode of ['S', 'E', 'C']) {
  const list = work[mode];
  const run = spawnSync(helper, ['--check', mode, ...list.flatMap((w) => w.files)], { maxBuffer: 1 << 28 });
  if (run.status !== 0) {
    console.error(`cannot run ${helper} --check`);
    process.exit(2);
  }
  const ours = run.stdout.toString().trim().split('\n');
  list.forEach((w, i) => {
    let ref;
    try { ref = w.ref().type === 'success'; } catch { return; } // the reference threw: not comparable
    const [verdict, msg] = ours[i].split('\t');
    // JSON.parse keeps the last of duplicate keys, hiding them from the
    // reference (which refuses them in Cedar data, as we do): not comparable.
    if (msg && msg.includes('duplicate object key')) return;
    if ((verdict === 'ok') === ref) {
      passed++;
    } else {
      failed++;
      if (failed <= 20) {
        console.log(`MISMATCH ${mode} ${w.files.join(' ')}: ours ${verdict}${msg ? ` (${msg})` : ''}, reference ${ref ? 'ok' : 'err'}`);
      }
    }
  });
}
if (failed === 0) fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
