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
// checkParseSchema / checkParseEntities / checkParseContext: accept vs refuse
// is compared.  Mode G generates small schemas from the grammar (namespaces,
// common types, shadowed built-in names, qualified references, action
// groups); for those both engines accept, the resolved schemas are compared
// too (ours: --check R, the reference's: schemaToJsonWithResolvedTypes).
// Mode V takes corpus requests, swaps in other principals, resources, ids or
// actions, and compares request validation (isAuthorized, validateRequest).
// Ends with "N passed, N failed".
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonReference } from './cedar-schema-canon.mjs';

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

// ---- mode G: schemas generated from the grammar -----------------------------
const pick = (a) => a[rnd(a.length)];
const gNames = ['A', 'B', 'C', 'Long', 'String', 'ipaddr', 'decimal', 'Action', 'Set', 'Bool', 'Record',
  'Entity', 'datetime', 'in', 'if', 'principal', 'context', 'tags', 'enum', 'type', '__cedar'];
const gNs = ['', '', 'N', 'M', 'N::M', '__cedar', 'A'];
const gCommon = ['A', 'B', 'C', 'ipaddr', 'Long', 'String', 'decimal'];
// mostly names that can resolve, sometimes the odd ones
const gName = () => (rnd(10) < 7 ? pick(gCommon) : gName());
function gType(d = 0) {
  const r = rnd(10);
  if (r < 5) {
    const ns = pick(gNs);
    const n = gName();
    return ns && rnd(2) ? `${ns}::${n}` : n;
  }
  if (r < 7 && d < 2) return `Set<${gType(d + 1)}>`;
  if (d < 2) {
    const at = [];
    for (let k = rnd(3); k > 0; k--) at.push(`${pick(['a', 'b', '"c d"', 'in'])}${rnd(2) ? '?' : ''}: ${gType(d + 1)}`);
    return `{${at.join(', ')}${rnd(4) ? '' : ','}}`;
  }
  return gName();
}
function gDecl() {
  const r = rnd(6);
  if (r < 2) {
    const ids = [gName()];
    if (rnd(2)) ids.push(gName());
    let s = `entity ${ids.join(', ')}`;
    if (rnd(3) === 0) s += ` in [${gName()}${rnd(2) ? `, ${pick(gNs.filter(Boolean))}::${gName()}` : ''}]`;
    if (rnd(4) === 0) s += ' enum ["x", "y"]';
    else if (rnd(2)) { const t = gType(1); s += ` ${rnd(2) ? '= ' : ''}${t.startsWith('{') ? t : '{ a: Long }'}`; }
    if (rnd(4) === 0) s += ` tags ${gType(1)}`;
    return `${s};`;
  }
  if (r < 4) return `type ${gName()} = ${gType()};`;
  let s = `action ${pick(['v', '"w"', 'x', 'Action'])}`;
  if (rnd(3) === 0) s += ` in [${pick(['v', '"w"', 'Action::"v"', 'N::Action::"v"', 'x'])}]`;
  if (rnd(2)) s += ` appliesTo { principal: ${rnd(3) ? gName() : `[${gName()}]`}, resource: ${gName()}${rnd(2) ? `, context: ${gType(1)}` : ''} }`;
  return `${s};`;
}
function gSchema() {
  let out = '';
  for (let k = 1 + rnd(4); k > 0; k--) {
    if (rnd(2)) {
      const ds = [];
      for (let j = 1 + rnd(3); j > 0; j--) ds.push(gDecl());
      out += `namespace ${pick(gNs.filter(Boolean))} { ${ds.join(' ')} }\n`;
    } else {
      out += `${gDecl()}\n`;
    }
  }
  return out;
}

// The reference's resolved JSON schema in our canonical form (see
// print_resolved in test_cedar_schema.c): common types inlined, built-ins by
// name, entity types qualified, lists sorted.
function canonOurs(o) {
  for (const e of Object.values(o.entities)) e.parents.sort();
  for (const a of Object.values(o.actions)) {
    a.parents.sort();
    a.principals.sort();
    a.resources.sort();
  }
  return o;
}

function sortedJson(v) {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-schema-difftest-'));
const work = { S: [], E: [], C: [], R: [], V: [] };
let made = 0;
while (made < N) {
  const t = JSON.parse(fs.readFileSync(path.join(corpus, testFiles[rnd(testFiles.length)]), 'utf8'));
  const schema = fs.readFileSync(path.join(suite, t.schema), 'utf8');
  const mode = 'SECGV'[made % 5];
  const base = path.join(tmp, String(made));
  if (mode === 'V') {
    const rq = t.requests[rnd(t.requests.length)];
    const others = t.requests.flatMap((r) => [r.principal, r.resource]);
    const req = { principal: rq.principal, action: rq.action, resource: rq.resource, context: rq.context };
    switch (rnd(6)) {
      case 0: req.principal = others[rnd(others.length)]; break;
      case 1: req.resource = others[rnd(others.length)]; break;
      case 2: req.principal = { type: req.principal.type, id: `${req.principal.id}z` }; break;
      case 3: req.action = { type: req.action.type, id: `${req.action.id}z` }; break;
      case 4: req.resource = { type: req.principal.type, id: '' }; break;
      default: break;
    }
    const text = JSON.stringify(req);
    if (/\d{16,}/.test(text)) continue;
    fs.writeFileSync(`${base}.s`, schema);
    fs.writeFileSync(`${base}.r`, text);
    work.V.push({
      files: [`${base}.s`, `${base}.r`],
      ref: () => cedar.isAuthorized({ ...req, schema, validateRequest: true, policies: { staticPolicies: '' }, entities: [] }),
    });
  } else if (mode === 'G') {
    const text = gSchema();
    fs.writeFileSync(`${base}.s`, text);
    work.R.push({
      files: [`${base}.s`],
      ref: () => cedar.checkParseSchema(text),
      resolved: () => cedar.schemaToJsonWithResolvedTypes(text),
    });
  } else if (mode === 'S') {
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
let passed = 0, failed = 0, compared = 0;
for (const mode of ['S', 'E', 'C', 'R', 'V']) {
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
    let same = (verdict === 'ok') === ref;
    let why = '';
    if (same && ref && mode === 'R') {
      let theirs;
      try {
        const r = w.resolved();
        theirs = r.type === 'success' ? sortedJson(canonReference(r.json)) : undefined;
      } catch {
        theirs = undefined; // not comparable
      }
      const mine = sortedJson(canonOurs(JSON.parse(msg)));
      if (theirs !== undefined) compared++;
      if (theirs !== undefined && theirs !== mine) {
        same = false;
        why = `resolved schemas differ:\n  ours:      ${mine}\n  reference: ${theirs}`;
      }
    }
    if (same) {
      passed++;
    } else {
      failed++;
      if (failed <= 20) {
        console.log(why ? `MISMATCH ${mode} ${w.files.join(' ')}: ${why}`
          : `MISMATCH ${mode} ${w.files.join(' ')}: ours ${verdict}${msg ? ` (${msg.slice(0, 200)})` : ''}, reference ${ref ? 'ok' : 'err'}`);
      }
    }
  });
}
if (failed === 0) fs.rmSync(tmp, { recursive: true, force: true });
console.log(`(${compared} resolved schemas compared)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
