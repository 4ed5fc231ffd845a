// cedar-data-regress.mjs: entity data the reference refuses (found by the
// differential test) must be refused by mandate too.
//
//   node cedar-data-regress.mjs --mandate BIN DIR
//
// DIR holds <name>.entities.json, <name>.request, optionally <name>.cedarschema,
// and <name>.expect ("refuse: <the reference's message>"), written by
// tests/cedar/regress/gen-regress.mjs.  Runs `BIN policy eval` with no
// policies on each and expects exit 2 (input refused).  Needs node only, not
// cedar-wasm.  Ends with "N passed, N failed".

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
let mandate = process.env.MANDATE_BIN || '', dir = '';
for (let i = 0; i < args.length; i++) {
    if (args[i] === '--mandate') mandate = args[++i];
    else dir = args[i];
}
if (!mandate || !dir) {
    console.error('usage: node cedar-data-regress.mjs --mandate BIN DIR');
    process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cedar-data-regress-'));
const empty = path.join(tmp, 'empty.cedar');
fs.writeFileSync(empty, '');
let passed = 0, failed = 0;
for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.expect')).sort()) {
    const base = path.join(dir, f.slice(0, -'.expect'.length));
    const expect = fs.readFileSync(base + '.expect', 'utf8').trim();
    const a = ['policy', 'eval', '--policies', empty, '--entities', base + '.entities.json', '--request', base + '.request'];
    if (fs.existsSync(base + '.cedarschema')) a.push('--schema', base + '.cedarschema');
    const run = spawnSync(mandate, a, { encoding: 'utf8' });
    const refused = run.status === 2;
    const want = expect.startsWith('refuse');
    if (refused === want && !run.signal) {
        passed++;
    } else {
        failed++;
        console.log('FAIL ' + path.basename(base) + ': expected ' + expect + '; mandate ' +
            (run.signal ? 'killed by ' + run.signal : 'exit ' + run.status + ': ' + (run.stdout + run.stderr).trim().slice(0, 200)));
    }
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(passed + ' passed, ' + failed + ' failed');
process.exit(failed ? 1 : 0);
