// audit-retention-e2e.mjs: retention and export of the audit trail from the command line
// (docs/audit.md, "Retention" and "Export"), on a store a real server wrote and signed
// checkpoints for (harness: access-harness.mjs):
//  - `mandate audit prune`: refused without a checkpoint old enough (exit 1), deletes up to
//    a checkpoint and never past it, records audit.prune naming it; `audit verify --jwks`
//    passes from the checkpoint; a record deleted behind no checkpoint is still reported;
//  - `serve --audit-retention-days`: the checkpoint thread prunes records older than that;
//  - `mandate audit export --format ocsf --out FILE`: OCSF events, resumes where FILE ends
//    with no gap and no duplicate, cuts a torn last line, refuses an --after that would
//    leave a gap; --format jsonl on stdout.
//
// Usage: node audit-retention-e2e.mjs [MANDATE_BIN]   (else $MANDATE_BIN)
// Ends with "N passed, N failed" (or a skip line).
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './access-harness.mjs';

const { bin, t, h } = await setup({ tools: ['sqlite3'] });
const CKPT = ['--audit-checkpoint-records', '10', '--audit-checkpoint-s', '1'];

const sql = (db, q) => execFileSync('sqlite3', [db, q], { encoding: 'utf8' }).trim();
function audit(args) {
  const r = spawnSync(bin, ['audit', ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const lines = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const consecutive = (seqs) => seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  await h.restart(CKPT);
  await h.loadExample();
  await sleep(1300); // a checkpoint tick
  for (let round = 0; round < 2; round++) { // two more checkpoints, each after 12 records
    for (let i = 0; i < 12; i++) {
      await h.must('POST', '/v1/api-keys', { name: `r${round}-${i}`, role: 'auditor' });
    }
    await sleep(1300);
  }
  const jwksFile = join(h.dir, 'jwks.json');
  writeFileSync(jwksFile, await (await fetch(`${h.base}/.well-known/jwks.json`)).text());
  await h.stopServer(); // a last checkpoint at the head
  const cps = sql(h.db, 'SELECT seq FROM audit_checkpoints ORDER BY seq').split('\n').map(Number);
  const head = Number(sql(h.db, 'SELECT max(seq) FROM audit'));
  t.check('the server left at least 4 checkpoints, the last at the head',
    cps.length >= 4 && cps[cps.length - 1] === head, `${cps} head ${head}`);

  // ---- prune ------------------------------------------------------------------------------------
  let r = audit(['prune', '--db', h.db]);
  t.check('prune without a cutoff: exit 2', r.code === 2, r.out + r.err);
  r = audit(['prune', '--db', h.db, '--before', '1x']);
  t.check('prune --before 1x: exit 2 (an age such as 90d)', r.code === 2, r.out + r.err);
  r = audit(['prune', '--db', h.db, '--before', '1d']);
  t.check('prune --before 1d on a fresh trail: exit 1, no checkpoint that old, nothing deleted',
    r.code === 1 && /no signed checkpoint/.test(r.err) &&
    Number(sql(h.db, 'SELECT count(*) FROM audit')) === head, r.out + r.err);
  const cut = cps[cps.length - 3];
  r = audit(['prune', '--db', h.db, '--before-seq', String(cut + 1)]);
  t.check(`prune --before-seq ${cut + 1}: up to checkpoint ${cut}, not past it`,
    r.code === 0 &&
    r.out.includes(`pruned ${cut} records (seq 1..${cut}) up to checkpoint ${cut}`) &&
    Number(sql(h.db, 'SELECT min(seq) FROM audit')) === cut + 1, r.out + r.err);
  const pr = sql(h.db, "SELECT seq || '|' || detail FROM audit WHERE event = 'audit.prune'");
  t.check('the prune is audited, naming the checkpoint', pr.startsWith(`${head + 1}|`) &&
    pr.includes(`"checkpoint":${cut}`), pr);
  r = audit(['verify', '--db', h.db, '--jwks', jwksFile]);
  t.check(`verify --jwks after the prune: ok from seq ${cut + 1}, signatures verified`,
    r.code === 0 && r.out.includes(`(seq ${cut + 1}..${head + 1})`) &&
    !/ 0 signatures/.test(r.out), r.out + r.err);
  r = audit(['prune', '--db', h.db, '--before-seq', String(cut + 1)]);
  t.check('the same prune again: nothing to prune, exit 0', r.code === 0 &&
    /nothing to prune/.test(r.out), r.out + r.err);
  const copy = join(h.dir, 'gap.db');
  copyFileSync(h.db, copy);
  sql(copy, `DELETE FROM audit WHERE seq = ${cut + 3}`);
  r = audit(['verify', '--db', copy]);
  // (when that record is a checkpoint's, the checkpoint is named: its record is missing)
  t.check('a record deleted behind no checkpoint: verify exit 1, names it',
    r.code === 1 && (r.out.includes(`BROKEN at record ${cut + 3}:`) ||
      r.out.includes(`BROKEN at checkpoint ${cut + 3}:`)) && /missing/.test(r.out),
    r.out + r.err);

  // ---- export, OCSF, to a file, resumed -----------------------------------------------------------
  const out = join(h.dir, 'siem.ocsf.jsonl');
  r = audit(['export', '--db', h.db, '--format', 'ocsf', '--out', out]);
  let ev = lines(out);
  const seqs = () => ev.map((e) => e.metadata.sequence);
  t.check('export --format ocsf --out: every remaining record, in order, as OCSF events',
    r.code === 0 && ev.length === head + 1 - cut && seqs()[0] === cut + 1 && consecutive(seqs()) &&
    ev.every((e) => [3003, 6003].includes(e.class_uid) &&
      e.type_uid === e.class_uid * 100 + e.activity_id && e.metadata.version &&
      e.metadata.product.name === 'Mandate' && /^[0-9a-f]{64}$/.test(e.metadata.uid)),
    r.err + JSON.stringify(ev[0]).slice(0, 400));
  t.check('the prune record is an API Activity: Delete', ev.some((e) =>
    e.metadata.event_code === 'audit.prune' && e.class_uid === 6003 && e.activity_id === 4));
  r = audit(['export', '--db', h.db, '--format', 'ocsf', '--out', out]);
  t.check('export again with nothing new: no duplicate', r.code === 0 &&
    lines(out).length === ev.length, r.err);
  // more records, written by the server
  await h.serve(CKPT);
  for (let i = 0; i < 3; i++) await h.must('POST', '/v1/api-keys', { name: `k${i}`, role: 'auditor' });
  await h.stopServer();
  appendFileSync(out, '{"class_uid":6003,"metadata":{"seq'); // a torn write
  r = audit(['export', '--db', h.db, '--format', 'ocsf', '--out', out]);
  ev = lines(out);
  const newHead = Number(sql(h.db, 'SELECT max(seq) FROM audit'));
  t.check('a torn last line is cut; the export resumes where FILE ends: no gap, no duplicate',
    r.code === 0 && /torn/.test(r.err) && seqs()[0] === cut + 1 &&
    seqs()[seqs().length - 1] === newHead && consecutive(seqs()), r.err + seqs().slice(-6));
  r = audit(['export', '--db', h.db, '--format', 'ocsf', '--out', out, '--after', String(cut)]);
  t.check('--after that does not match FILE\'s end: refused (exit 2), FILE unchanged',
    r.code === 2 && /gap or a duplicate/.test(r.err) && lines(out).length === ev.length, r.err);
  r = audit(['export', '--db', h.db, '--format', 'jsonl', '--after', String(newHead - 2)]);
  const jl = r.out.trim().split('\n').map((l) => JSON.parse(l));
  t.check('export --format jsonl on stdout: the columns with their hashes', r.code === 0 &&
    jl.length === 2 && jl[0].seq === newHead - 1 && /^[0-9a-f]{64}$/.test(jl[1].prev_hash), r.out);
  r = audit(['export', '--db', h.db, '--format', 'xml']);
  t.check('export --format xml: exit 2', r.code === 2, r.err);

  // ---- retention in the server ------------------------------------------------------------------------
  const old = cps[cps.length - 1];
  sql(h.db, `UPDATE audit_checkpoints SET time_ms = time_ms - 3 * 86400000 WHERE seq <= ${old}`);
  await h.serve([...CKPT, '--audit-retention-days', '2']);
  let first = 0;
  for (let i = 0; i < 100 && first <= old; i++) {
    await sleep(100);
    first = Number(sql(h.db, 'SELECT min(seq) FROM audit'));
  }
  await h.stopServer();
  t.check(`serve --audit-retention-days 2: pruned up to checkpoint ${old} (older than 2 days)`,
    first === old + 1, `first ${first}`);
  r = audit(['verify', '--db', h.db, '--jwks', jwksFile]);
  t.check('verify after the retention prune: ok', r.code === 0, r.out + r.err);
} catch (err) {
  t.check('no exception', false, `${err.stack}\n${h.stderr}`);
} finally {
  await h.stop();
}
process.exit(t.summary());
