// cedar-difftest.mjs: differential test of Mandate's Cedar engine against the
// reference (@cedar-policy/cedar-wasm, pinned in package.json).
//
//   node cedar-difftest.mjs --mandate BIN [--n REQUESTS] [--seed S]
//        [--batch REQUESTS] [--regress DIR] [--keep DIR] [--quiet]
//        [--parse N] [--schema-parse N] [--data N]
//
// Generates random tests (cedar-gen.mjs) in the conformance format, answered
// by cedar-wasm, into a temporary folder per batch, runs
// `BIN policy conformance FOLDER` on them and adds up its counts.  Failing
// tests are printed and, with --regress DIR, copied there as regression cases.
// --parse N / --schema-parse N also compare parser acceptance: N random (mostly
// mutated) policy set / schema texts, accepted or refused by the reference,
// against `BIN policy check` (each text is one case in the counts).  --data N
// compares data acceptance: N schemas with entities and a context, often
// edited into something the reference refuses (wrong types, undeclared
// attributes, cycles, duplicates...), against `BIN policy eval` (exit 2 =
// refused).
// Ends with the line "difftest: N passed, N failed" (requests).  Without
// node_modules it prints a skip line and exits 77 (meson's "skipped").

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function parseArgs(argv) {
    const o = { mandate: process.env.MANDATE_BIN || '', n: 2400, seed: 1, batch: 4000, regress: '', keep: '', quiet: false, parse: 0, schemaParse: 0, data: 0 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) usage('missing value for ' + a);
            return argv[++i];
        };
        if (a === '--mandate') o.mandate = v();
        else if (a === '--n') o.n = Number(v());
        else if (a === '--seed') o.seed = Number(v());
        else if (a === '--batch') o.batch = Number(v());
        else if (a === '--regress') o.regress = v();
        else if (a === '--keep') o.keep = v();
        else if (a === '--quiet') o.quiet = true;
        else if (a === '--parse') o.parse = Number(v());
        else if (a === '--schema-parse') o.schemaParse = Number(v());
        else if (a === '--data') o.data = Number(v());
        else usage('unknown argument ' + a);
    }
    for (const k of ['n', 'seed', 'batch', 'parse', 'schemaParse', 'data']) {
        if (!Number.isInteger(o[k]) || o[k] < 0) usage('--' + k + ' wants a non-negative integer');
    }
    if (!o.mandate) usage('no mandate program (--mandate or MANDATE_BIN)');
    return o;
}

function usage(msg) {
    console.error('cedar-difftest: ' + msg);
    console.error('usage: node cedar-difftest.mjs --mandate BIN [--n N] [--seed S] [--batch N] [--regress DIR] [--keep DIR]');
    process.exit(2);
}

const opt = parseArgs(process.argv.slice(2));

let gen;
try {
    gen = await import('./cedar-gen.mjs');
} catch (e) {
    console.log('skipped: @cedar-policy/cedar-wasm not found (run scripts/test-setup): ' + String(e.message).split('\n')[0]);
    console.log('0 passed, 0 failed, 1 skipped');
    process.exit(77);
}
if (!fs.existsSync(opt.mandate)) usage('mandate program not found: ' + opt.mandate);

const SUMMARY = /^(\d+) passed, (\d+) failed/m;
let passed = 0, failed = 0, made = 0, index = 0;
const failingNames = [];
const t0 = Date.now();

while (made < opt.n) {
    const dir = opt.keep ? path.join(opt.keep, 'batch' + index) : fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-difftest-'));
    fs.mkdirSync(dir, { recursive: true });
    const tests = [];
    let inBatch = 0;
    while (inBatch < opt.batch && made < opt.n) {
        const name = 'dt-s' + opt.seed + '-' + String(index).padStart(7, '0');
        const t = gen.genTest(opt.seed * 100000007 + index * 7919, name, Math.min(4, opt.n - made));
        index++;
        if (!t) continue;
        for (const [f, text] of Object.entries(t.files)) fs.writeFileSync(path.join(dir, f), text);
        tests.push(t);
        inBatch += t.json.requests.length;
        made += t.json.requests.length;
    }
    // conformance counts each request plus one strict-validation verdict per test with a schema
    const items = inBatch + tests.filter((t) => t.json.schema && 'shouldValidate' in t.json).length;
    const run = spawnSync(opt.mandate, ['policy', 'conformance', dir], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const out = (run.stdout || '') + (run.stderr || '');
    const m = [...out.matchAll(new RegExp(SUMMARY.source, 'gm'))].pop();
    if (!m || run.signal) {
        console.log('mandate policy conformance ' + dir + ': ' + (run.signal ? 'killed by ' + run.signal : 'no summary line, exit ' + run.status));
        console.log(out.split('\n').slice(-20).join('\n'));
        failed += items;
        tests.forEach((t) => failingNames.push([dir, t]));
    } else {
        passed += Number(m[1]);
        failed += Number(m[2]);
        if (Number(m[1]) + Number(m[2]) !== items) {
            console.log('warning: conformance counted ' + (Number(m[1]) + Number(m[2])) + ' items, generated ' + items + ' (requests and validation verdicts)');
        }
        if (Number(m[2]) > 0) {
            for (const t of tests) {
                if (new RegExp(t.name + '(?![0-9])').test(out)) failingNames.push([dir, t]);
            }
            if (!opt.quiet) {
                const lines = out.split('\n').filter((l) => l && !SUMMARY.test(l));
                console.log(lines.slice(0, 60).join('\n'));
                if (lines.length > 60) console.log('... ' + (lines.length - 60) + ' more lines');
            }
        }
    }
    if (!opt.keep) fs.rmSync(dir, { recursive: true, force: true });
}

// ---- parser acceptance -----------------------------------------------------

function parsePhase(kind, count) {
    if (!count) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-parsetest-'));
    const cases = [];
    for (let i = 0; i < count; i++) {
        const seed = opt.seed * 100000007 + 50000000 + i * 7919 + (kind === 'schema' ? 1 : 0);
        const c = kind === 'schema' ? gen.genSchemaParseCase(seed) : gen.genParseCase(seed);
        c.file = path.join(dir, kind + i + (kind === 'schema' ? '.cedarschema' : '.cedar'));
        fs.writeFileSync(c.file, c.text);
        cases.push(c);
    }
    const accepted = new Set();
    if (kind === 'schema') {
        const empty = path.join(dir, 'empty.cedar');
        fs.writeFileSync(empty, '');
        for (const c of cases) {
            const run = spawnSync(opt.mandate, ['policy', 'check', empty, '--schema', c.file], { encoding: 'utf8' });
            if (run.signal || ![0, 1, 2].includes(run.status)) {
                console.log('CRASH policy check --schema ' + c.file + ': ' + (run.signal || 'exit ' + run.status));
                failed++;
            }
            if (run.status === 0) accepted.add(c.file);
        }
    } else {
        for (let i = 0; i < cases.length; i += 200) {
            const files = cases.slice(i, i + 200).map((c) => c.file);
            const run = spawnSync(opt.mandate, ['policy', 'check', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
            if (run.signal || ![0, 1, 2].includes(run.status)) {
                console.log('CRASH policy check: ' + (run.signal || 'exit ' + run.status) + '\n' + (run.stderr || '').slice(-3000));
                failed++;
            }
            for (const line of (run.stdout || '').split('\n')) {
                const m = /^(.*): ok \(/.exec(line);
                if (m) accepted.add(m[1]);
            }
        }
    }
    let bad = 0;
    for (const c of cases) {
        const ours = accepted.has(c.file);
        if (ours === c.ok) {
            passed++;
            continue;
        }
        failed++;
        bad++;
        if (bad <= 20) {
            console.log('PARSE MISMATCH (' + kind + '): reference ' + (c.ok ? 'accepts' : 'refuses') + ', mandate ' +
                (ours ? 'accepts' : 'refuses') + ': ' + JSON.stringify(c.text));
        }
        if (opt.regress) {
            fs.mkdirSync(path.join(opt.regress, 'parse'), { recursive: true });
            const base = path.join(opt.regress, 'parse', kind + '-s' + opt.seed + '-' + cases.indexOf(c));
            fs.writeFileSync(base + (kind === 'schema' ? '.cedarschema' : '.cedar'), c.text);
            fs.writeFileSync(base + '.expect', c.ok ? 'accept\n' : 'refuse\n');
        }
    }
    console.log(kind + ' parse acceptance: ' + (count - bad) + ' agree, ' + bad + ' differ (' +
        cases.filter((c) => c.ok).length + ' of ' + count + ' accepted by the reference)');
    fs.rmSync(dir, { recursive: true, force: true });
}
parsePhase('policy', opt.parse);
parsePhase('schema', opt.schemaParse);

function dataPhase(count) {
    if (!count) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-datatest-'));
    const empty = path.join(dir, 'empty.cedar');
    fs.writeFileSync(empty, '');
    let bad = 0, okRef = 0;
    for (let i = 0; i < count; i++) {
        const c = gen.genDataCase(opt.seed * 100000007 + 70000000 + i * 7919);
        const base = path.join(dir, 'd' + i);
        fs.writeFileSync(base + '.entities.json', JSON.stringify(c.entities, null, 1));
        fs.writeFileSync(base + '.request.json', JSON.stringify(c.request));
        const args = ['policy', 'eval', '--policies', empty, '--entities', base + '.entities.json', '--request', base + '.request.json'];
        if (c.schema !== null) {
            fs.writeFileSync(base + '.cedarschema', c.schema);
            args.push('--schema', base + '.cedarschema');
        }
        const run = spawnSync(opt.mandate, args, { encoding: 'utf8' });
        const crashed = run.signal || ![0, 1, 2].includes(run.status);
        if (crashed) {
            console.log('CRASH policy eval ' + base + ': ' + (run.signal || 'exit ' + run.status) + '\n' +
                (run.stderr || '').split('\n').slice(0, 30).join('\n'));
        }
        const ours = run.status === 0 || run.status === 1;
        okRef += c.ok;
        if (ours === c.ok && !crashed) {
            passed++;
            continue;
        }
        failed++;
        bad++;
        if (bad <= 20) {
            console.log('DATA MISMATCH: reference ' + (c.ok ? 'accepts' : 'refuses (' + c.why.slice(0, 300) + ')') + ', mandate ' +
                (ours ? 'accepts' : 'refuses (' + (run.stdout + run.stderr).trim().slice(0, 300) + ')') + ': ' + base);
        }
        if (opt.regress) {
            const out = path.join(opt.regress, 'data', 'data-s' + opt.seed + '-' + i);
            fs.mkdirSync(path.dirname(out), { recursive: true });
            for (const ext of ['.entities.json', '.request.json', '.cedarschema']) {
                if (fs.existsSync(base + ext)) fs.copyFileSync(base + ext, out + ext);
            }
            fs.writeFileSync(out + '.expect', (c.ok ? 'accept' : 'refuse: ' + c.why) + '\n');
        }
    }
    console.log('data acceptance: ' + (count - bad) + ' agree, ' + bad + ' differ (' + okRef + ' of ' + count + ' accepted by the reference)');
    if (!opt.keep) fs.rmSync(dir, { recursive: true, force: true });
}
dataPhase(opt.data);

if (failingNames.length) {
    console.log('failing tests: ' + failingNames.length + ' (first: ' + failingNames.slice(0, 10).map(([, t]) => t.name).join(' ') + ')');
    if (opt.regress) {
        fs.mkdirSync(opt.regress, { recursive: true });
        for (const [, t] of failingNames) {
            for (const [f, text] of Object.entries(t.files)) fs.writeFileSync(path.join(opt.regress, f), text);
        }
        console.log('copied to ' + opt.regress + ' (rerun with --seed ' + opt.seed + ' to reproduce)');
    }
}
const st = gen.genStats();
console.log('generated ' + st.tests + ' tests, ' + st.requests + ' requests (seed ' + opt.seed + '; rejected by the reference: ' +
    st.rejectedTests + ' tests, ' + st.rejectedPolicies + ' policies, ' + st.rejectedRequests + ' requests) in ' +
    ((Date.now() - t0) / 1000).toFixed(1) + ' s');
console.log('difftest: ' + passed + ' passed, ' + failed + ' failed');
process.exit(failed ? 1 : 0);
