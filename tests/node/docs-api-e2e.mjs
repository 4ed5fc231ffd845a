// docs-api-e2e.mjs: docs/api.md's curl examples work against `make run`
// (issue #6).  The server is started the way `make run` starts it
// (scripts/run-local: init, serve, load examples/) on a fresh store in a
// temp dir and a free port; then the ```sh blocks of docs/api.md run in ONE
// bash session, with M (the URL), B (the mandate program) and K (the admin
// key) set as run-local prints them: the session block (between the
// api-session markers) first, then every other ```sh block in page order
// (so a section's own block may use what the session made: $TASK, $PEP...).
// The convention (docs/api.md, "Examples"):
//   - every request ends with `# -> STATUS` on its last line: the status each
//     curl it sends must answer (a function holding a curl, such as
//     `exchange`, is checked where it is called);
//   - a curl line (or a call of such a function) without one fails here, as
//     does an annotation no request reached;
//   - examples use `curl -s` without -o/-w/-f (the test's curl adds them).
// Then coverage: every route of src/http/api_authz.c's action table and of
// the route tables in src/http/*.c (public routes too) must have been
// reached by at least one example, and be listed in the Endpoints table
// (`| METHOD | \`path\` |` rows); each missing route fails by name.
// Last, the curl lines run-local prints ("Try:") answer 200.
//
// Usage: node docs-api-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { Results, here } from './access-harness.mjs';

const bin = process.argv[2] || process.env.MANDATE_BIN;
function skip(why) {
  console.log(`skipped: ${why}`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
if (!bin || !existsSync(bin)) skip(`mandate binary not found (${bin})`);
for (const tool of ['bash', 'python3', 'curl', 'jq']) {
  if (spawnSync(tool, ['--version']).status !== 0) skip(`${tool} not found (scripts/deps installs it)`);
}
const root = resolve(here, '..', '..');
const mandate = resolve(bin);
const DOC = 'docs/api.md';
const t = new Results();

// ---- the routes ---------------------------------------------------------------

// {"METHOD", "/pattern" entries of the array that starts with `head` in file.
function tableRoutes(file, head) {
  const src = readFileSync(join(root, file), 'utf8');
  const out = [];
  let at = 0;
  for (;;) {
    const i = src.indexOf(head, at);
    if (i < 0) break;
    const end = src.indexOf('};', i);
    const body = src.slice(i, end < 0 ? src.length : end);
    for (const m of body.matchAll(/\{\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"(\/[^"]*)"/g)) {
      out.push({ method: m[1], pattern: m[2], file });
    }
    at = i + head.length;
  }
  return out;
}

const authzRoutes = tableRoutes('src/http/api_authz.c', 'struct api_action actions[]');
t.check('src/http/api_authz.c: the action table is readable (>= 40 routes)', authzRoutes.length >= 40,
  `${authzRoutes.length} routes found: has the table moved?`);
const tableRoutesAll = [];
for (const f of readdirSync(join(root, 'src', 'http')).filter((n) => n.endsWith('.c')).sort()) {
  tableRoutesAll.push(...tableRoutes(`src/http/${f}`, 'const struct http_route http_routes_'));
}
const routes = [];
for (const r of [...authzRoutes, ...tableRoutesAll]) {
  if (!routes.some((x) => x.method === r.method && x.pattern === r.pattern)) routes.push(r);
}
for (const r of routes) {
  const re = r.pattern.replace(/[.+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{[A-Za-z_]+\*\}/g, '.+').replace(/\{[A-Za-z_]+\}/g, '[^/]+');
  r.re = new RegExp(`^${re}$`);
  r.literal = r.pattern.replace(/\{[^}]*\}/g, '').length;
  r.hits = 0;
}
// The route a request reached: of those matching, the most specific (the
// longest literal text: /v1/agents/{id*}/status over /v1/agents/{id*}).
function routeOf(method, path) {
  let best = null;
  for (const r of routes) {
    if (r.method === method && r.re.test(path) && (!best || r.literal > best.literal)) best = r;
  }
  return best;
}

// ---- docs/api.md: the blocks and their annotations ------------------------------

const docLines = readFileSync(join(root, DOC), 'utf8').split('\n');
const blocks = []; // {start (1-based line of the first code line), lines}
for (let i = 0; i < docLines.length; i++) {
  if (/^```(sh|bash)\s*$/.test(docLines[i])) {
    let k = i - 1;
    while (k >= 0 && docLines[k].trim() === '') k--;
    const b = { start: i + 2, lines: [], session: k >= 0 && docLines[k].includes('<!-- api-session:begin -->') };
    for (i++; i < docLines.length && !/^```\s*$/.test(docLines[i]); i++) b.lines.push(docLines[i]);
    blocks.push(b);
  }
}
t.check(`${DOC} has the session block (<!-- api-session:begin --> before a \`\`\`sh block)`,
  blocks.some((b) => b.session));
// The session first (it defines what the others use), then page order.
blocks.sort((x, y) => (y.session - x.session) || (x.start - y.start));

const ANN = /\s#\s*->\s*(\d{3})\s*$/;
const stripComment = (s) => s.replace(/(^|\s)#.*$/, '');
// Functions defined in the blocks that send requests (their curl is checked
// where they are called).
const fnBodies = new Set(); // "block:line index" inside a function body
const reqFns = [];
for (const [bi, b] of blocks.entries()) {
  for (let i = 0; i < b.lines.length; i++) {
    const m = b.lines[i].match(/^\s*(?:function\s+)?([A-Za-z_]\w*)\s*\(\)\s*\{/);
    if (!m) continue;
    let sends = false;
    let j = i;
    for (; j < b.lines.length && (j === i || !/^\s*\}\s*$/.test(b.lines[j])); j++) {
      fnBodies.add(`${bi}:${j}`);
      if (/(^|[\s;|&(`])curl\s/.test(stripComment(b.lines[j]))) sends = true;
    }
    fnBodies.add(`${bi}:${j}`);
    if (sends) reqFns.push(m[1]);
    i = j;
  }
}
const reqRe = new RegExp(`(^|[\\s;|&(\`])(curl${reqFns.map((f) => `|${f}`).join('')})(\\s|\\)|;|$)`);

const annotations = []; // {line, status, text}
const lint = [];
{
  let pending = null; // line of a request not yet annotated
  for (const [bi, b] of blocks.entries()) {
    for (let i = 0; i < b.lines.length; i++) {
      const ln = b.start + i;
      const line = b.lines[i];
      if (fnBodies.has(`${bi}:${i}`)) {
        if (ANN.test(line)) lint.push(`${DOC}:${ln}: an expected status inside a function (put it where it is called)`);
        continue;
      }
      const isReq = reqRe.test(stripComment(line));
      if (isReq && pending !== null) lint.push(`${DOC}:${pending}: a request without \`# -> STATUS\``);
      if (isReq) pending = ln;
      const a = line.match(ANN);
      if (a) {
        if (pending === null) lint.push(`${DOC}:${ln}: \`# -> ${a[1]}\` follows no request`);
        annotations.push({ line: ln, status: a[1], text: docLines[(pending ?? ln) - 1].trim() });
        pending = null;
      }
    }
    if (pending !== null) lint.push(`${DOC}:${pending}: a request without \`# -> STATUS\``);
    pending = null;
  }
}
t.check(`${DOC}: every request has an expected status (${annotations.length} examples)`,
  lint.length === 0 && annotations.length > 0, `\n  ${lint.join('\n  ')}`);

// The script: the blocks in order, each annotation turned into a marker in
// the log, curl wrapped to log the status, method and URL of each request.
const prelude = `
curl() {
  local f w
  f=$(mktemp "$__DIR/body.XXXXXX")
  w=$(command curl -sS --max-time 60 -o "$f" -w '%{http_code} %{method} %{url_effective}' "$@" 2>"$f.err")
  printf 'req %s %s\\n' "$w" "$f" >>"$__LOG"
  cat "$f"; echo
  return 0
}
__check() { printf 'check %s %s\\n' "$1" "$2" >>"$__LOG"; }
H="Authorization: Bearer $K"
set -u   # a misspelt variable stops the session (its examples then "never ran")
`;
// docLine[n]: the docs/api.md line of the script's line n (1-based).
const docLine = [];
function script() {
  const out = prelude.split('\n');
  for (const [bi, b] of blocks.entries()) {
    out.push(`# ${DOC}:${b.start}`);
    for (let i = 0; i < b.lines.length; i++) {
      const line = b.lines[i];
      const a = fnBodies.has(`${bi}:${i}`) ? null : line.match(ANN);
      out.push(a ? `${line.replace(ANN, '').replace(/[\s;]*$/, '')}; __check ${b.start + i} ${a[1]}` : line);
      docLine[out.length] = b.start + i;
    }
  }
  return out.join('\n') + '\n';
}
// bash names the script's lines: name the page's instead.
const inDoc = (err) => (err || '').replace(/^\S*session\.sh: line (\d+):/gm,
  (m, n) => (docLine[Number(n)] ? `${DOC}:${docLine[Number(n)]}:` : m));

// The Endpoints table: each row's methods x its backticked paths, every
// {placeholder} alike ({spiffe id} is the route's {id*}).
const norm = (p) => p.replace(/\{[^}]*\}/g, '{}');
const listed = new Set();
for (const l of docLines) {
  const m = l.match(/^\|\s*((?:GET|POST|PUT|PATCH|DELETE)(?:\s*,\s*(?:GET|POST|PUT|PATCH|DELETE))*)\s*\|([^|]*)\|/);
  if (!m) continue;
  for (const meth of m[1].split(',').map((x) => x.trim())) {
    for (const pm of m[2].matchAll(/`(\/[^`]*)`/g)) listed.add(`${meth} ${norm(pm[1])}`);
  }
}
const unlisted = routes.filter((r) => !listed.has(`${r.method} ${norm(r.pattern)}`));
for (const r of unlisted) {
  t.check(`route ${r.method} ${r.pattern} (${r.file}) is in ${DOC}'s Endpoints table`, false, 'no row names it');
}
t.check(`${DOC}: the Endpoints table lists every route (${routes.length - unlisted.length} of ${routes.length})`,
  unlisted.length === 0, unlisted.map((r) => `${r.method} ${r.pattern}`).join(', '));

// ---- the server, as `make run` starts it -----------------------------------------

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

function runLocal(db, listen) {
  const p = spawn('sh', ['scripts/run-local', mandate, db, listen], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  const exited = new Promise((res) => p.on('exit', (c, s) => res({ c, s })));
  const ready = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`run-local timed out: ${out} ${err}`)), 60000);
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ctrl-C stops')) { clearTimeout(timer); res(out); }
    });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => { clearTimeout(timer); rej(new Error(`run-local exited ${code}: ${err}`)); });
  });
  return { p, ready, exited, stderr: () => err };
}

const dir = mkdtempSync(join(tmpdir(), 'mandate-docs-api-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
let rl = null;
try {
  rl = runLocal(join(dir, 'mandate.db'), `127.0.0.1:${port}`);
  const banner = await rl.ready;
  const key = (banner.match(/admin API key: (mdk_\S+)/) || [])[1];
  t.check('run-local serves and prints the admin key', !!key, banner);

  const log = join(dir, 'requests.log');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'session.sh'), script());
  const s = spawnSync('bash', [join(dir, 'session.sh')], {
    cwd: root, encoding: 'utf8', timeout: 240000,
    env: { ...process.env, M: url, B: mandate, K: key, __LOG: log, __DIR: dir },
  });
  t.check(`${DOC}: the examples run to the end (bash exit 0)`, s.status === 0,
    `status ${s.status} ${s.error || ''}\n${inDoc(s.stderr).slice(-1500)}`);
  t.check(`${DOC}: the mandate commands of the examples run clean (no sanitizer report)`,
    !/AddressSanitizer|LeakSanitizer|runtime error/.test(s.stderr || ''), (s.stderr || '').slice(-2000));
  if (s.stderr && s.stderr.trim()) console.log(`note: the session's stderr:\n${inDoc(s.stderr).slice(-1500)}`);

  // The log: requests, then the marker of the example that sent them.
  const runs = new Map(); // line -> [[req...], ...]
  let reqs = [];
  const all = [];
  for (const l of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const p = l.split(' ');
    if (p[0] === 'req') {
      const r = { code: p[1], method: p[2], url: p[3], body: p[4] };
      reqs.push(r);
      all.push(r);
    } else if (p[0] === 'check') {
      const line = Number(p[1]);
      if (!runs.has(line)) runs.set(line, []);
      runs.get(line).push(reqs);
      reqs = [];
    }
  }
  t.check(`${DOC}: no request outside an example`, reqs.length === 0,
    reqs.map((r) => `${r.method} ${r.url}`).join(', '));
  const excerpt = (r) => {
    const rd = (f) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return `${rd(r.body).slice(0, 400)} ${rd(`${r.body}.err`).trim()}`;
  };
  const pathOf = (u) => (u || '').replace(/^[a-z]+:\/\/[^/]*/i, '').split('?')[0];
  for (const a of annotations) {
    const got = runs.get(a.line) || [];
    const sent = got.flat();
    const what = sent.length ? `${sent[0].method} ${pathOf(sent[0].url)}` : a.text.slice(0, 60);
    const bad = sent.filter((r) => r.code !== a.status);
    t.check(`${DOC}:${a.line} ${what} -> ${a.status}`,
      got.length > 0 && got.every((g) => g.length > 0) && bad.length === 0,
      got.length === 0 ? `never ran: ${a.text}`
        : sent.length === 0 ? `sent no request: ${a.text}`
          : `\n  ${a.text}\n  ` + bad.map((r) => `${r.method} ${r.url}: ${r.code}: ${excerpt(r)}`).join('\n  '));
  }

  // Coverage: every route reached by some example.
  for (const r of all) {
    const rt = routeOf(r.method, pathOf(r.url));
    if (rt) rt.hits++;
  }
  const missing = routes.filter((r) => r.hits === 0);
  for (const r of missing) {
    t.check(`route ${r.method} ${r.pattern} (${r.file}) has an example in ${DOC}`, false, 'none reached it');
  }
  t.check(`${DOC}: every route has an example (${routes.length - missing.length} of ${routes.length})`,
    missing.length === 0, missing.map((r) => `${r.method} ${r.pattern}`).join(', '));

  // The lines run-local prints under "Try:" work too.
  const tries = banner.split('\n').filter((l) => /^\s+curl /.test(l)).map((l) => l.trim());
  t.check('run-local prints curl lines to try', tries.length > 0, banner);
  for (const c of tries) {
    const r = spawnSync('bash', ['-c', `${c} -o /dev/null -w '%{http_code}'`], { encoding: 'utf8', timeout: 30000 });
    t.check(`run-local's "${c.replace(key, '$K').replace(url, '$M').slice(0, 90)}" -> 200`, r.stdout === '200',
      `${r.stdout} ${r.stderr}`);
  }
} catch (err) {
  t.check('docs api e2e ran', false, String((err && err.stack) || err));
} finally {
  if (rl) {
    rl.p.kill('SIGTERM');
    await rl.exited;
    t.check('the server exits clean (no sanitizer report)',
      !/AddressSanitizer|LeakSanitizer|runtime error/.test(rl.stderr()), rl.stderr().slice(-2000));
  }
}
rmSync(dir, { recursive: true, force: true });
process.exit(t.summary());
