// cedar-gen.mjs: seeded random Cedar test cases (schema, entities, policies,
// requests) answered by the reference implementation, @cedar-policy/cedar-wasm.
//
// genTest(seed, name) returns one test in the conformance format of
// /work/shared/conformance/cedar/README.md (files + the test JSON object), or
// null when the reference refused the generated input (rare; the caller
// counts those).  Policies are a mix of well-typed and ill-typed ones; the
// expected `shouldValidate` is the reference's strict validation verdict.
//
// Everything here is plain data generation: the same seed gives the same
// files on every machine.

import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

// ---- seeded PRNG (splitmix32) -------------------------------------------

export function rngFrom(seed) {
    let s = seed >>> 0;
    const next = () => {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        return (z ^ (z >>> 16)) >>> 0;
    };
    const r = {
        u32: next,
        int: (n) => next() % n,
        chance: (p) => next() / 4294967296 < p,
        pick: (a) => a[next() % a.length],
        sub: (a, p) => a.filter(() => r.chance(p)),
    };
    return r;
}

// ---- literal pools --------------------------------------------------------

// Longs that fit in a JS number are used in JSON data; the big ones only in
// policy text (JSON numbers past 2^53 would lose precision in JS).
const LONGS_SAFE = ['0', '1', '-1', '2', '3', '7', '10', '42', '-7', '100', '1000', '65536'];
const LONGS_BIG = [
    '9223372036854775807', '9223372036854775806', '4611686018427387904', '3037000500',
    '3037000499', '-4611686018427387904', '2147483648', '-9223372036854775807',
    '(-9223372036854775808)', '-9223372036854775808',
];
// Cedar string literal texts (already escaped for policy syntax) and the
// values they denote.
const STRINGS = [
    ['""', ''], ['"a"', 'a'], ['"ab"', 'ab'], ['"abc"', 'abc'], ['"alice"', 'alice'],
    ['"\\n"', '\n'], ['"a\\tb"', 'a\tb'], ['"\\\\"', '\\'], ['"\\""', '"'], ['"\\0"', '\0'],
    ['"\\\'"', "'"], ['"\\u{e9}"', '\u00e9'], ['"\\u{1F600}"', '\u{1F600}'], ['"é"', 'é'],
    ['"*"', '*'], ['"a*"', 'a*'], ['"x y"', 'x y'], ['"k"', 'k'], ['"red"', 'red'],
];
const LIKE_PATTERNS = [
    '"*"', '"a*"', '"*b*"', '"\\*"', '"a\\*b"', '""', '"**"', '"a*c"', '"*c"', '"alice"',
    '"*\\n*"', '"\\u{e9}*"', '"a**b"', '"?"', '"*lic*"', '"\\\\*"',
];
const IPS_OK = [
    '127.0.0.1', '10.0.0.1', '10.0.0.0/8', '192.168.1.1/24', '::1', 'ff02::1', '224.0.0.1',
    '2001:db8::/32', '0.0.0.0/0', '255.255.255.255', '::', '127.0.0.0/8',
    '::1/128', 'fe80::1:2:3:4', '1.2.3.4/32', '10.1.2.3', '239.255.255.255', 'ff00::/8',
];
// The reference refuses IPv4 embedded in IPv6 (::ffff:1.2.3.4).
const IPS_BAD = ['::ffff:1.2.3.4', '1.2.3', '01.2.3.4', '::1%eth0', '1.2.3.4/33', '::1/129', 'abc', '', '1.2.3.4/08'];
const DECIMALS_OK = [
    '1.0', '-0.1', '0.0', '922337203685477.5807', '-922337203685477.5808', '0.0001', '1.23',
    '2.5', '-2.5', '100.0', '1.2345', '0.5',
];
const DECIMALS_BAD = ['1', '1.00000', '.5', '1.', '922337203685477.5808', 'x', '1e3'];
const DATETIMES_OK = [
    '2024-01-01', '2024-01-01T12:00:00Z', '2024-01-01T12:00:00.123Z', '2024-02-29T23:59:59+0130',
    '1969-12-31T23:59:59Z', '1960-06-15', '2000-01-01T00:00:00-0800', '1970-01-01',
    '2024-06-30T10:20:30.999-0030', '1900-01-01', '9999-12-31T23:59:59Z', '0001-01-01',
];
const DATETIMES_BAD = ['2024-13-01', '2024-1-1', '2024-01-01T25:00:00Z', '2024-01-01T12:00:00', 'x'];
const DURATIONS_OK = [
    '1d', '2h30m', '-1ms', '1d2h3m4s5ms', '0s', '-3d', '90m', '1h', '59s', '1000ms', '-2h',
    '106751991167d', '-106751991167d', '36500d', '1d1ms',
];
const DURATIONS_BAD = ['1x', '', '1m1d', '--1d', '1.5h', 'd', '106751991168d'];
const IDS = ['alice', 'bob', 'carol', 'dave', '', 'a\u0001', 'x y', 'é', '0'];

const str = (s) => JSON.stringify(s); // JSON quoting is also valid Cedar quoting for these
const cedarStr = (s) =>
    '"' +
    [...s]
        .map((ch) => {
            if (ch === '"') return '\\"';
            if (ch === '\\') return '\\\\';
            const c = ch.codePointAt(0);
            if (c < 0x20 || c === 0x7f) return '\\u{' + c.toString(16) + '}';
            return ch;
        })
        .join('') +
    '"';

// ---- types ----------------------------------------------------------------

const T = {
    Long: { k: 'Long' }, String: { k: 'String' }, Bool: { k: 'Bool' },
    ip: { k: 'Ext', n: 'ipaddr' }, dec: { k: 'Ext', n: 'decimal' },
    dt: { k: 'Ext', n: 'datetime' }, dur: { k: 'Ext', n: 'duration' },
};
const setOf = (e) => ({ k: 'Set', e });
const ent = (n) => ({ k: 'Ent', n });
const rec = (f) => ({ k: 'Rec', f }); // f: name -> {t, opt}
const SCALARS = [T.Long, T.String, T.Bool, T.ip, T.dec, T.dt, T.dur];

function typeText(t, ns) {
    switch (t.k) {
    case 'Long': case 'String': return t.k;
    case 'Bool': return 'Bool';
    case 'Ext': return t.n;
    case 'Set': return 'Set<' + typeText(t.e, ns) + '>';
    case 'Ent': return t.n;
    case 'Rec':
        return '{ ' + Object.entries(t.f)
            .map(([k, a]) => attrName(k) + (a.opt ? '?' : '') + ': ' + typeText(a.t, ns))
            .join(', ') + ' }';
    }
    throw new Error('type ' + t.k);
}
const attrName = (k) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : str(k));
const sameType = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---- schema ---------------------------------------------------------------

// Attribute pool; each entity type takes a random subset.
function attrPool(r) {
    return {
        age: T.Long, name: T.String, admin: T.Bool, level: T.Long, labels: setOf(T.String),
        nums: setOf(T.Long), addr: T.ip, score: T.dec, born: T.dt, ttl: T.dur,
        info: rec({ a: { t: T.Long, opt: false }, b: { t: T.String, opt: r.chance(0.5) },
            c: { t: rec({ d: { t: T.Bool, opt: false } }), opt: false } }),
        'odd key': T.String,
    };
}

export function genSchema(r) {
    const ns = r.chance(0.25) ? 'NS' : '';
    const q = (n) => (ns ? ns + '::' + n : n);
    const pool = attrPool(r);
    const pickAttrs = (extra) => {
        const f = {};
        for (const [k, t] of Object.entries(pool)) {
            if (r.chance(0.45)) f[k] = { t, opt: r.chance(0.3) };
        }
        for (const [k, t] of Object.entries(extra)) {
            if (r.chance(0.7)) f[k] = { t, opt: r.chance(0.3) };
        }
        return f;
    };
    const tagT = () => (r.chance(0.4) ? r.pick([T.String, T.Long, setOf(T.String), T.Bool]) : null);
    const ents = {
        Team: { parents: ['Team'], attrs: pickAttrs({}), tags: null },
        User: { parents: ['Team'], attrs: pickAttrs({ boss: ent('User'), team: ent('Team') }), tags: tagT() },
        Folder: { parents: ['Folder'], attrs: pickAttrs({ owner: ent('User') }), tags: null },
        Doc: { parents: ['Folder'], attrs: pickAttrs({ owner: ent('User'), color: ent('Color') }), tags: tagT() },
        Color: { enumv: ['red', 'green', ''] },
    };
    const ctxPool = {
        ip: T.ip, n: T.Long, now: T.dt, flag: T.Bool, s: T.String, col: ent('Color'),
        lst: setOf(T.Long), who: ent('User'), amount: T.dec, wait: T.dur,
        meta: rec({ a: { t: T.Long, opt: false }, z: { t: T.String, opt: true } }),
    };
    const ctxT = () => {
        const f = {};
        for (const [k, t] of Object.entries(ctxPool)) if (r.chance(0.5)) f[k] = { t, opt: r.chance(0.25) };
        return rec(f);
    };
    const actions = {
        read: { groups: [], app: null },
        view: { groups: ['read'], app: { p: ['User'], r: ['Doc', 'Folder'], ctx: ctxT() } },
        edit: { groups: r.chance(0.5) ? ['read'] : [], app: { p: ['User'], r: ['Doc'], ctx: ctxT() } },
        'del ete': { groups: [], app: { p: ['User', 'Team'], r: ['Doc', 'Folder'], ctx: rec({}) } },
        list: { groups: ['view'], app: { p: ['User'], r: ['Folder'], ctx: ctxT() } },
    };
    // Text.
    const L = [];
    if (r.chance(0.3)) L.push('// generated schema');
    for (const [n, e] of Object.entries(ents)) {
        const ann = r.chance(0.15) ? '@doc("x") ' : '';
        if (e.enumv) {
            L.push(ann + 'entity ' + n + ' enum [' + e.enumv.map(str).join(', ') + '];');
            continue;
        }
        let s = ann + 'entity ' + n;
        if (e.parents.length) s += ' in [' + e.parents.join(', ') + ']';
        s += ' ' + typeText(rec(e.attrs), ns);
        if (e.tags) s += ' tags ' + typeText(e.tags, ns);
        L.push(s + ';');
    }
    for (const [n, a] of Object.entries(actions)) {
        let s = 'action ' + attrName(n);
        if (a.groups.length) s += ' in [' + a.groups.map(attrName).join(', ') + ']';
        if (a.app) {
            s += ' appliesTo { principal: [' + a.app.p.join(', ') + '], resource: [' + a.app.r.join(', ') +
                '], context: ' + typeText(a.app.ctx, ns) + ' }';
        }
        L.push(s + ';');
    }
    const body = L.join('\n');
    const text = ns ? 'namespace ' + ns + ' {\n' + body + '\n}\n' : body + '\n';
    return { ns, q, ents, actions, text, actionType: q('Action') };
}

// ---- values as JSON (entities and context) ---------------------------------

function jsonValue(r, t, S, ids) {
    switch (t.k) {
    case 'Long': return Number(r.pick(LONGS_SAFE));
    case 'String': return r.pick(STRINGS)[1];
    case 'Bool': return r.chance(0.5);
    case 'Set': {
        const n = r.int(4);
        const out = [];
        for (let i = 0; i < n; i++) {
            const v = jsonValue(r, t.e, S, ids);
            if (!out.some((x) => JSON.stringify(x) === JSON.stringify(v))) out.push(v);
        }
        return out;
    }
    case 'Rec': {
        const o = {};
        for (const [k, a] of Object.entries(t.f)) if (!a.opt || r.chance(0.6)) o[k] = jsonValue(r, a.t, S, ids);
        return o;
    }
    case 'Ent': {
        const e = S.ents[t.n];
        const id = e.enumv ? r.pick(e.enumv) : r.pick(ids[t.n]);
        const u = { type: S.q(t.n), id };
        return r.chance(0.7) ? { __entity: u } : u;
    }
    case 'Ext': {
        const fn = { ipaddr: 'ip', decimal: 'decimal', datetime: 'datetime', duration: 'duration' }[t.n];
        const pool = { ipaddr: IPS_OK, decimal: DECIMALS_OK, datetime: DATETIMES_OK, duration: DURATIONS_OK }[t.n];
        const v = r.pick(pool);
        if (t.n === 'datetime' && r.chance(0.05)) {
            return { __extn: { fn: 'offset', args: [{ __extn: { fn: 'datetime', arg: v } },
                { __extn: { fn: 'duration', arg: r.pick(['1d', '-2h', '0s']) } }] } };
        }
        return r.chance(0.5) ? v : { __extn: { fn, arg: v } };
    }
    }
    throw new Error('jsonValue ' + t.k);
}

export function genEntities(r, S) {
    const ids = {
        User: r.sub(IDS, 0.6).concat(['alice']).filter((v, i, a) => a.indexOf(v) === i),
        Team: ['t0', 't1', 't2', 't3', 'root', ''],
        Folder: ['f0', 'f1', 'f2', 'pub'],
        Doc: ['d0', 'd1', 'd2', 'd3', 'x y'],
    };
    const list = [];
    const uidOf = (n, id) => ({ type: S.q(n), id });
    // Teams: a chain root <- t0 <- t1 <- t2, t3 under t0 (4 levels).
    const tpar = { root: [], t0: ['root'], t1: ['t0'], t2: ['t1'], t3: ['t0'], '': [] };
    const fpar = { f0: [], f1: ['f0'], f2: ['f1'], pub: [] };
    if (r.chance(0.1)) tpar.root = ['t2']; // a cycle: root <- t0 <- t1 <- t2 <- root
    if (r.chance(0.05)) fpar.pub = ['pub', 'f2']; // a self-parent
    const present = {};
    for (const [n, e] of Object.entries(S.ents)) {
        if (e.enumv) continue;
        present[n] = [];
        for (const id of ids[n]) {
            if (r.chance(0.12)) continue; // some referenced entities are missing
            present[n].push(id);
            let parents = [];
            if (n === 'Team') parents = tpar[id] || [];
            else if (n === 'User') parents = r.sub(ids.Team, 0.3);
            else if (n === 'Folder') parents = fpar[id] || [];
            else if (n === 'Doc') parents = r.sub(ids.Folder, 0.4);
            const attrs = jsonValue(r, rec(e.attrs), S, ids);
            const o = { uid: uidOf(n, id), attrs, parents: parents.map((p) => uidOf(n === 'Doc' ? 'Folder' : n === 'User' ? 'Team' : n, p)) };
            if (e.tags && r.chance(0.8)) {
                const tags = {};
                for (const k of r.sub(['k', '', 'a', 'red'], 0.5)) tags[k] = jsonValue(r, e.tags, S, ids);
                o.tags = tags;
            }
            list.push(o);
        }
    }
    if (r.chance(0.5)) {
        for (const [n, a] of Object.entries(S.actions)) {
            list.push({ uid: { type: S.actionType, id: n }, attrs: {},
                parents: a.groups.map((g) => ({ type: S.actionType, id: g })) });
        }
    }
    return { list, ids, present };
}

// ---- policy expressions ----------------------------------------------------

class PolicyGen {
    constructor(r, S, E, chaos) {
        this.r = r; this.S = S; this.E = E; this.chaos = chaos;
        this.ptype = 'User'; this.rtype = r.pick(['Doc', 'Folder']);
        this.ctx = rec({});
    }
    uid(n) {
        const e = this.S.ents[n];
        const id = e && e.enumv ? this.r.pick(e.enumv) : this.r.pick(this.E.ids[n] || IDS);
        return this.S.q(n) + '::' + cedarStr(id);
    }
    act(n) { return this.S.actionType + '::' + cedarStr(n); }
    paren(s) { return this.r.chance(0.75) ? '(' + s + ')' : s; }

    // Paths (expr text, type) available in this policy.
    paths() {
        const out = [];
        const walk = (base, t, guard) => {
            if (t.k !== 'Rec') return;
            for (const [k, a] of Object.entries(t.f)) {
                const e = /^[A-Za-z_]\w*$/.test(k) ? base + '.' + k : base + '[' + str(k) + ']';
                out.push({ e, t: a.t, opt: a.opt, base, k });
                walk(e, a.t, guard);
            }
        };
        const pe = this.S.ents[this.ptype], re = this.S.ents[this.rtype];
        if (pe && pe.attrs) walk('principal', rec(pe.attrs));
        if (re && re.attrs) walk('resource', rec(re.attrs));
        walk('context', this.ctx);
        return out;
    }

    ex(t, d) {
        const r = this.r;
        if (this.chaos && r.chance(0.12)) t = r.pick(SCALARS.concat([setOf(T.Long), ent('User')]));
        if (d <= 0 || r.chance(0.2)) return this.leaf(t);
        if (r.chance(0.08)) return 'if ' + this.ex(T.Bool, d - 1) + ' then ' + this.ex(t, d - 1) + ' else ' + this.ex(t, d - 1);
        switch (t.k) {
        case 'Bool': return this.bool(d);
        case 'Long': return this.long(d);
        case 'String': return this.leaf(t);
        case 'Ext': return this.ext(t, d);
        case 'Set': return r.chance(0.5) ? '[' + Array.from({ length: r.int(4) }, () => this.ex(t.e, d - 1)).join(', ') + ']' : this.leaf(t);
        case 'Rec': return this.leaf(t);
        case 'Ent': return this.leaf(t);
        }
        return this.leaf(t);
    }

    leaf(t) {
        const r = this.r;
        const ps = this.paths().filter((p) => sameType(p.t, t));
        if (ps.length && r.chance(0.55)) {
            const p = r.pick(ps);
            if (p.opt && r.chance(0.5)) return null ?? p.e; // unguarded optional: may error
            return p.e;
        }
        // tags
        const tagged = [this.ptype, this.rtype].map((n, i) => [i ? 'resource' : 'principal', this.S.ents[n]])
            .filter(([, e]) => e && e.tags && sameType(e.tags, t));
        if (tagged.length && r.chance(0.3)) {
            const [v] = r.pick(tagged);
            return v + '.getTag(' + r.pick(['"k"', '""', '"a"', '"zz"']) + ')';
        }
        switch (t.k) {
        case 'Bool': return r.pick(['true', 'false']);
        case 'Long': return r.chance(0.2) ? r.pick(LONGS_BIG) : r.pick(LONGS_SAFE);
        case 'String': return r.pick(STRINGS)[0];
        case 'Ext': return this.extLit(t);
        case 'Set': return '[' + Array.from({ length: r.int(3) }, () => this.leaf(t.e)).join(', ') + ']';
        case 'Rec': return '{' + Object.entries(t.f).filter(([, a]) => !a.opt || r.chance(0.5))
            .map(([k, a]) => attrName(k) + ': ' + this.leaf(a.t)).join(', ') + '}';
        case 'Ent':
            if (t.n === 'User' && r.chance(0.5)) return 'principal';
            if ((t.n === 'Doc' || t.n === 'Folder') && r.chance(0.5)) return 'resource';
            return this.uid(t.n);
        }
        return 'true';
    }

    extLit(t) {
        const r = this.r;
        const bad = r.chance(0.05);
        switch (t.n) {
        case 'ipaddr': return 'ip(' + str(r.pick(bad ? IPS_BAD : IPS_OK)) + ')';
        case 'decimal': return 'decimal(' + str(r.pick(bad ? DECIMALS_BAD : DECIMALS_OK)) + ')';
        case 'datetime': return 'datetime(' + str(r.pick(bad ? DATETIMES_BAD : DATETIMES_OK)) + ')';
        case 'duration': return 'duration(' + str(r.pick(bad ? DURATIONS_BAD : DURATIONS_OK)) + ')';
        }
        return 'true';
    }

    ext(t, d) {
        const r = this.r;
        if (t.n === 'datetime' && r.chance(0.5)) {
            const m = r.pick(['offset', 'toDate']);
            const a = this.paren(this.ex(T.dt, d - 1));
            return m === 'offset' ? a + '.offset(' + this.ex(T.dur, d - 1) + ')' : a + '.toDate()';
        }
        if (t.n === 'duration' && r.chance(0.5)) {
            const m = r.pick(['durationSince', 'toTime']);
            const a = this.paren(this.ex(T.dt, d - 1));
            return m === 'toTime' ? a + '.toTime()' : a + '.durationSince(' + this.ex(T.dt, d - 1) + ')';
        }
        if (r.chance(0.2)) {
            // constructor applied to a non-literal string: runtime parse
            const fn = { ipaddr: 'ip', decimal: 'decimal', datetime: 'datetime', duration: 'duration' }[t.n];
            return fn + '(' + this.ex(T.String, d - 1) + ')';
        }
        return this.leaf(t);
    }

    long(d) {
        const r = this.r;
        const c = r.int(7);
        if (c === 0) return '-' + this.paren(this.ex(T.Long, d - 1));
        if (c <= 3) return this.paren(this.ex(T.Long, d - 1)) + ' ' + r.pick(['+', '-', '*']) + ' ' + this.paren(this.ex(T.Long, d - 1));
        if (c === 4) return this.paren(this.ex(T.dur, d - 1)) + '.' + r.pick(['toDays', 'toHours', 'toMinutes', 'toSeconds', 'toMilliseconds']) + '()';
        return this.leaf(T.Long);
    }

    anyType() {
        return this.r.pick(SCALARS.concat([setOf(T.Long), setOf(T.String), ent('User'), ent('Team'), ent('Doc')]));
    }

    bool(d) {
        const r = this.r;
        const e = (t) => this.paren(this.ex(t, d - 1));
        switch (r.int(24)) {
        case 0: return '!' + e(T.Bool);
        case 1: case 2: return e(T.Bool) + ' && ' + e(T.Bool);
        case 3: case 4: return e(T.Bool) + ' || ' + e(T.Bool);
        case 5: { const t = this.anyType(); return e(t) + ' ' + r.pick(['==', '!=']) + ' ' + e(r.chance(0.8) ? t : this.anyType()); }
        case 6: return e(T.Long) + ' ' + r.pick(['<', '<=', '>', '>=']) + ' ' + e(T.Long);
        case 7: { const t = r.pick([T.dt, T.dur]); return e(t) + ' ' + r.pick(['<', '<=', '>', '>=']) + ' ' + e(t); }
        case 8: { // in
            const lhs = r.pick(['principal', 'resource', 'action', this.uid('User'), this.uid('Team')]);
            const rhsOne = () => r.pick([this.uid('Team'), this.uid('Folder'), this.act('read'), this.act('view'), 'principal', 'resource', this.uid('User')]);
            return lhs + ' in ' + (r.chance(0.3) ? '[' + [rhsOne(), rhsOne()].join(', ') + ']' : rhsOne());
        }
        case 9: { // has
            const ps = this.paths();
            if (ps.length && r.chance(0.8)) {
                const p = r.pick(ps);
                return p.base + ' has ' + (/^[A-Za-z_]\w*$/.test(p.k) ? p.k : str(p.k));
            }
            return r.pick(['principal', 'resource', 'context']) + ' has ' + r.pick(['age', 'info.a', 'info.c.d', 'nope', '"odd key"', 'owner']);
        }
        case 10: return e(T.String) + ' like ' + r.pick(LIKE_PATTERNS);
        case 11: { // is
            const tn = this.S.q(r.pick(['User', 'Team', 'Doc', 'Folder', 'Color']));
            const lhs = r.pick(['principal', 'resource', this.leaf(ent('User'))]);
            return lhs + ' is ' + tn + (r.chance(0.3) ? ' in ' + this.uid(r.pick(['Team', 'Folder'])) : '');
        }
        case 12: { const et = r.pick([T.Long, T.String, ent('User')]); return e(setOf(et)) + '.contains(' + this.ex(et, d - 1) + ')'; }
        case 13: { const et = r.pick([T.Long, T.String]); return e(setOf(et)) + '.' + r.pick(['containsAll', 'containsAny']) + '(' + this.ex(setOf(et), d - 1) + ')'; }
        case 14: return e(setOf(r.pick([T.Long, T.String]))) + '.isEmpty()';
        case 15: return r.pick(['principal', 'resource']) + '.hasTag(' + r.pick(['"k"', '""', '"a"', '"zz"']) + ')';
        case 16: { const a = e(T.ip); const m = r.pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast', 'isInRange']); return a + '.' + m + '(' + (m === 'isInRange' ? this.ex(T.ip, d - 1) : '') + ')'; }
        case 17: return e(T.dec) + '.' + r.pick(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual']) + '(' + this.ex(T.dec, d - 1) + ')';
        case 18: { // guarded optional access
            const ps = this.paths().filter((p) => p.opt);
            if (!ps.length) return this.leaf(T.Bool);
            const p = r.pick(ps);
            return p.base + ' has ' + attrName(p.k) + ' && ' + this.paren(p.e + ' == ' + this.leaf(p.t));
        }
        case 19: return e(T.dec) + ' ' + r.pick(['<', '>=']) + ' ' + e(T.dec);
        case 20: case 21: return this.tricky(d);
        default: return this.leaf(T.Bool);
        }
    }

    // Hand-picked corners: type errors inside short-circuits, entity chains,
    // equality of structured and extension values, overflow at the edges.
    tricky(d) {
        const r = this.r;
        const L = (t) => this.leaf(t);
        const E = (t) => this.paren(this.ex(t, d - 1));
        const u = () => this.uid(r.pick(['User', 'Team', 'Doc', 'Folder']));
        const t = [
            () => 'false && ' + E(this.anyType()),
            () => 'true || ' + E(this.anyType()),
            () => 'true && ' + E(this.anyType()),
            () => 'false || ' + E(this.anyType()),
            () => 'if ' + E(this.anyType()) + ' then true else false',
            () => 'principal has boss && principal.boss has boss && principal.boss.boss == ' + u(),
            () => 'resource has owner && resource.owner has team && resource.owner.team in ' + this.uid('Team'),
            () => 'resource.owner == principal',
            () => 'principal.team in principal',
            () => '[' + L(T.ip) + ', ' + L(T.ip) + '].contains(' + L(T.ip) + ')',
            () => '[' + L(T.dec) + ', ' + L(T.dec) + '] == [' + L(T.dec) + ', ' + L(T.dec) + ']',
            () => '{a: ' + L(T.Long) + ', b: [' + L(T.String) + ']} == {b: [' + L(T.String) + '], a: ' + L(T.Long) + '}',
            () => '[[1, 2], [3]].contains([2, 1])',
            () => '[' + u() + ', ' + u() + '].containsAny([principal, resource])',
            () => 'principal in [' + u() + ', ' + L(T.Long) + ']',
            () => u() + ' in ' + u(),
            () => 'action in [' + this.act('read') + ', ' + this.act('edit') + ']',
            () => 'action.foo == 1',
            () => 'action has foo',
            () => L(T.Long) + ' < ' + L(T.String),
            () => L(T.dt) + ' == ' + L(T.dt) + '.offset(duration("0ms"))',
            () => 'datetime("9999-12-31T23:59:59Z").offset(' + L(T.dur) + ') > ' + L(T.dt),
            () => L(T.dt) + '.toDate() == ' + L(T.dt) + '.toDate()',
            () => L(T.dt) + '.toTime().toMilliseconds() ' + r.pick(['<', '>=']) + ' ' + L(T.Long),
            () => L(T.dt) + '.durationSince(' + L(T.dt) + ').toDays() == ' + L(T.Long),
            () => '9223372036854775807 + ' + L(T.Long) + ' > 0',
            () => '-9223372036854775808 - ' + L(T.Long) + ' < 0',
            () => L(T.Long) + ' * ' + r.pick(LONGS_BIG) + ' != 0',
            () => '-(' + L(T.Long) + ') == ' + L(T.Long),
            () => L(T.String) + ' like "' + r.pick(['', '*', '\\*', 'a*a', '\\u{e9}', '\\0*']) + '"',
            () => 'resource.getTag(' + E(T.String) + ') == ' + L(this.anyType()),
            () => 'principal.hasTag(' + E(this.anyType()) + ')',
            () => 'context == context',
            () => 'context has meta && context.meta has z && context.meta.z like "*"',
            () => 'principal is ' + this.S.q('User') + ' && principal has name && principal.name == ' + L(T.String),
            () => 'resource is ' + this.S.q(r.pick(['Doc', 'Folder'])) + ' in [' + this.uid('Folder') + ', ' + this.uid('Folder') + ']',
            () => this.S.q('Color') + '::' + str(r.pick(['red', 'green', '', 'blue'])) + ' == ' + L(ent('Color')),
            () => 'ip(' + E(T.String) + ').isInRange(ip("0.0.0.0/0"))',
            () => 'decimal(' + str(r.pick(DECIMALS_OK)) + ') == decimal(' + str(r.pick(DECIMALS_OK)) + ')',
            () => 'ip(' + str(r.pick(IPS_OK)) + ') == ip(' + str(r.pick(IPS_OK)) + ')',
            () => 'duration(' + str(r.pick(DURATIONS_OK)) + ') == duration(' + str(r.pick(DURATIONS_OK)) + ')',
            () => '[].isEmpty() && [' + L(T.Long) + '].isEmpty()',
            () => '{"" : 1, "a b": 2}["a b"] == 2 && {"": 1}[""] == 1',
            () => '!(' + E(T.Bool) + ') == !' + E(T.Bool),
            () => '(if ' + E(T.Bool) + ' then ' + L(T.Long) + ' else ' + L(T.String) + ') == ' + L(T.Long),
        ];
        return r.pick(t)();
    }

    scope() {
        const r = this.r;
        let p = 'principal', a = 'action', res = 'resource';
        switch (r.int(6)) {
        case 1: p = 'principal == ' + this.uid('User'); break;
        case 2: p = 'principal in ' + this.uid('Team'); break;
        case 3: p = 'principal is ' + this.S.q('User'); break;
        case 4: p = 'principal is ' + this.S.q('User') + ' in ' + this.uid('Team'); break;
        }
        let actName = null;
        switch (r.int(5)) {
        case 1: actName = r.pick(['view', 'edit', 'list']); a = 'action == ' + this.act(actName); break;
        case 2: a = 'action in [' + r.sub(['view', 'edit', 'read', 'del ete'], 0.5).concat(['view']).map((x) => this.act(x)).join(', ') + ']'; break;
        case 3: a = 'action in ' + this.act(r.pick(['read', 'view'])); break;
        }
        switch (r.int(6)) {
        case 1: res = 'resource == ' + this.uid(this.rtype); break;
        case 2: res = 'resource in ' + this.uid('Folder'); break;
        case 3: res = 'resource is ' + this.S.q(this.rtype); break;
        case 4: res = 'resource is ' + this.S.q(this.rtype) + ' in ' + this.uid('Folder'); break;
        }
        if (this.template) {
            // at least one slot: ?principal, ?resource or both
            const k = r.int(3);
            if (k !== 1) p = r.pick(['principal == ?principal', 'principal in ?principal', 'principal is ' + this.S.q('User') + ' in ?principal']);
            if (k !== 0) res = r.pick(['resource == ?resource', 'resource in ?resource', 'resource is ' + this.S.q(this.rtype) + ' in ?resource']);
            this.slots = { p: k !== 1, r: k !== 0 };
        }
        if (actName && this.S.actions[actName].app) this.ctx = this.S.actions[actName].app.ctx;
        else this.ctx = this.S.actions[r.pick(['view', 'edit', 'list'])].app.ctx;
        return p + ', ' + a + ', ' + res;
    }

    policy() {
        const r = this.r;
        let s = '';
        if (r.chance(0.15)) s += '@id(' + str('p' + r.int(100)) + ')\n';
        if (r.chance(0.05)) s += '@advice("x")\n';
        s += r.chance(0.7) ? 'permit' : 'forbid';
        s += ' (' + this.scope() + ')';
        const nc = r.pick([0, 1, 1, 1, 2]);
        for (let i = 0; i < nc; i++) {
            s += '\n' + (r.chance(0.8) ? 'when' : 'unless') + ' { ' + this.ex(T.Bool, 1 + r.int(4)) + ' }';
        }
        return s + ';';
    }
}

// ---- requests --------------------------------------------------------------

function genRequest(r, S, E) {
    const an = r.pick(['view', 'edit', 'del ete', 'list']);
    const app = S.actions[an].app;
    const pt = r.pick(app.p), rt = r.pick(app.r);
    const pick = (n) => (r.chance(0.85) && E.present[n].length ? r.pick(E.present[n]) : r.pick(['ghost', 'zz', ...E.ids[n]]));
    return {
        principal: { type: S.q(pt), id: pick(pt) },
        action: { type: S.actionType, id: an },
        resource: { type: S.q(rt), id: pick(rt) },
        context: jsonValue(r, app.ctx, S, E.ids),
    };
}

// ---- one test --------------------------------------------------------------

const stats = { tests: 0, requests: 0, rejectedPolicies: 0, rejectedRequests: 0, rejectedTests: 0 };
export function genStats() { return stats; }

function parses(text, template) {
    const ps = template ? { templates: { t: text } } : { staticPolicies: text };
    return cedar.checkParsePolicySet(ps).type === 'success';
}

// Returns { name, json, files: {path: text} } or null.
export function genTest(seed, name, nreq = 4) {
    const r = rngFrom(seed);
    const S = genSchema(r);
    const E = genEntities(r, S);
    // Some tests run without a schema: the data is then read with the
    // schemaless rules (extension values only from __extn, no type checks).
    const schemaless = r.chance(0.15);
    if (cedar.checkParseEntities(schemaless ? { entities: E.list } : { entities: E.list, schema: S.text }).type !== 'success') {
        stats.rejectedTests++;
        return null;
    }
    const chaos = r.chance(0.3);
    const np = 1 + r.int(r.chance(0.3) ? 8 : 4);
    const pols = [];
    const withTemplates = r.chance(0.15);
    const templates = {}, links = [], statics = {};
    for (let i = 0; i < np; i++) {
        for (let tries = 0; tries < 6; tries++) {
            const g = new PolicyGen(r, S, E, chaos);
            g.template = withTemplates && r.chance(0.5);
            const p = g.policy();
            if (!parses(p, g.template)) { stats.rejectedPolicies++; continue; }
            // Ids by position, templates included (mandate and the suites).
            const id = 'policy' + pols.length;
            pols.push(p);
            if (!g.template) { statics[id] = p; break; }
            templates[id] = p;
            for (let k = 0, n = 1 + r.int(2); k < n; k++) {
                const l = { template: id, id: 'link' + links.length };
                if (g.slots.p) l.principal = { type: S.q(r.pick(['User', 'Team'])), id: r.pick(r.chance(0.5) ? E.ids.Team : E.ids.User) };
                if (g.slots.r) l.resource = { type: S.q(r.pick(['Doc', 'Folder'])), id: r.pick(r.chance(0.5) ? E.ids.Doc : E.ids.Folder) };
                if (l.principal && E.ids.Team.includes(l.principal.id)) l.principal.type = S.q('Team');
                else if (l.principal) l.principal.type = S.q('User');
                if (l.resource && E.ids.Folder.includes(l.resource.id)) l.resource.type = S.q('Folder');
                else if (l.resource) l.resource.type = S.q('Doc');
                links.push(l);
            }
            break;
        }
    }
    if (!pols.length) { stats.rejectedTests++; return null; }
    const policyText = (r.chance(0.2) ? '// generated\n' : '') + pols.join('\n\n') + '\n';
    const pset = links.length ? {
        staticPolicies: statics, templates,
        templateLinks: links.map((l) => ({ templateId: l.template, newId: l.id,
            values: { ...(l.principal ? { '?principal': l.principal } : {}), ...(l.resource ? { '?resource': l.resource } : {}) } })),
    } : { staticPolicies: policyText };
    const v = cedar.validate({ schema: S.text, policies: pset, validationSettings: { mode: 'strict' } });
    if (v.type !== 'success') { stats.rejectedTests++; return null; }
    const shouldValidate = v.validationErrors.length === 0;
    const requests = [];
    if (cedar.preparseSchema('s', S.text).type !== 'success' ||
        cedar.preparsePolicySet('p', pset).type !== 'success') {
        stats.rejectedTests++;
        return null;
    }
    for (let i = 0; i < nreq * 2 && requests.length < nreq; i++) {
        const q = genRequest(r, S, E);
        const a = cedar.statefulIsAuthorized({ ...q, ...(schemaless ? {} : { preparsedSchemaName: 's' }),
            validateRequest: !schemaless, preparsedPolicySetId: 'p', entities: E.list });
        if (a.type !== 'success') { stats.rejectedRequests++; continue; }
        const resp = a.response;
        if (stats.messages) for (const x of resp.diagnostics.errors) {
            const m = x.error.message.replace(/`[^`]*`/g, 'X').replace(/\d+/g, 'N').slice(0, 90);
            stats.messages[m] = (stats.messages[m] || 0) + 1;
        }
        requests.push({ description: 'Request ' + requests.length, ...q, ...(schemaless ? {} : { validateRequest: true }),
            decision: resp.decision, reason: resp.diagnostics.reason.slice().sort(),
            errors: resp.diagnostics.errors.map((x) => x.policyId).sort() });
    }
    if (!requests.length) { stats.rejectedTests++; return null; }
    stats.tests++; stats.requests += requests.length;
    const files = {};
    files[name + '.cedar'] = policyText;
    if (!schemaless) files[name + '.cedarschema'] = S.text;
    files[name + '.entities.json'] = JSON.stringify(E.list, null, 1) + '\n';
    const json = schemaless ? { policies: name + '.cedar', entities: name + '.entities.json', requests }
        : { policies: name + '.cedar', entities: name + '.entities.json', schema: name + '.cedarschema', shouldValidate, requests };
    // "links" is mandate's one addition to the suites' format (templates).
    if (links.length) json.links = links;
    files[name + '.json'] = JSON.stringify(json, null, 1) + '\n';
    return { name, json, files };
}

// ---- parser acceptance -------------------------------------------------------

const MUTATION_TOKENS = [
    '(', ')', ',', ';', '"', '\\', '::', 'if', '@', '?principal', '?resource', '-', '.', '[', ']', '{', '}',
    ' in ', ' has ', ' like ', ' is ', '\\u{', '\\u{110000}', '\\x7f', '\\x80', '0x1', '//', '\n', '==', '=',
    '!', '&&', '||', '&', '|', '<=', '=>', '9223372036854775808', '_', 'é', '\u0000', '\t', 'then', 'else',
    'principal', 'resource', 'context', 'action', 'true', 'false', 'when', 'unless', 'permit', 'forbid',
    '*', '+', '%', '/', 'Action::', '"\\*"', '__cedar::', 'entity', 'type', 'namespace', 'appliesTo',
    '?', ':', '<', '>', 'Set<', 'Long', 'String', 'enum', 'tags', 'in', '= ',
];

// Applies 1-3 random edits (on code points, so the text stays valid UTF-8).
function mutate(r, text) {
    const cps = [...text];
    const n = 1 + r.int(3);
    for (let i = 0; i < n; i++) {
        const at = r.int(cps.length + 1);
        switch (r.int(4)) {
        case 0: cps.splice(at, 1); break;
        case 1: cps.splice(at, 0, ...r.pick(MUTATION_TOKENS)); break;
        case 2: if (cps.length) cps.splice(at, 0, cps[r.int(cps.length)]); break;
        default: { const l = 1 + r.int(8); const from = r.int(cps.length + 1); cps.splice(at, 0, ...cps.slice(from, from + l)); }
        }
    }
    return cps.join('');
}

// A policy set text (mutated most of the time) and whether the reference
// parses it.
export function genParseCase(seed) {
    const r = rngFrom(seed);
    const S = genSchema(r);
    const E = genEntities(r, S);
    const pols = [];
    const np = 1 + r.int(3);
    for (let i = 0; i < np; i++) pols.push(new PolicyGen(r, S, E, r.chance(0.3)).policy());
    let text = pols.join('\n');
    if (r.chance(0.85)) text = mutate(r, text);
    return { text, ok: cedar.checkParsePolicySet({ staticPolicies: text }).type === 'success' };
}

// A schema text (mutated most of the time) and whether the reference accepts it.
export function genSchemaParseCase(seed) {
    const r = rngFrom(seed);
    let text = genSchema(r).text;
    if (r.chance(0.85)) text = mutate(r, text);
    return { text, ok: cedar.checkParseSchema(text).type === 'success' };
}

// ---- data acceptance (entities and context JSON) ------------------------------

// Edits that a schema (or the schemaless rules) may refuse.
function mutateValueTree(r, v) {
    // pick a random spot in a JSON tree and change it
    const spots = [];
    const walk = (x, parent, key) => {
        spots.push([parent, key]);
        if (Array.isArray(x)) x.forEach((y, i) => walk(y, x, i));
        else if (x && typeof x === 'object') for (const k of Object.keys(x)) walk(x[k], x, k);
    };
    walk(v, null, null);
    const cand = spots.filter(([p]) => p);
    if (!cand.length) return;
    const [p, k] = r.pick(cand);
    const repl = [1, -1, 'x', '', true, null, [], {}, 1.5, '1.0', '10.0.0.1', '2024-01-01', '1d', 9007199254740991,
        { __entity: { type: 'User', id: 'alice' } }, { __entity: { type: 'Nope', id: 'x' } },
        { __extn: { fn: 'ip', arg: '::1' } }, { __extn: { fn: 'decimal', arg: '1' } }, { __extn: { fn: 'nope', arg: 'x' } },
        { __extn: { fn: 'offset', args: [{ __extn: { fn: 'datetime', arg: '2024-01-01' } }] } },
        { type: 'User', id: 'bob' }, { type: 'Color', id: 'blue' }, { __entity: { type: 'User' } }, [1, 'a'], [[]]];
    switch (r.int(3)) {
    case 0: p[k] = JSON.parse(JSON.stringify(r.pick(repl))); break;
    case 1: if (Array.isArray(p)) p.splice(k, 1); else delete p[k]; break;
    default: if (!Array.isArray(p)) p[r.pick(['extra', 'age', 'uid', '__entity', '__extn', 'type', 'id'])] = r.pick(repl);
        else p.push(JSON.parse(JSON.stringify(r.pick(repl))));
    }
}

export function genDataCase(seed) {
    const r = rngFrom(seed);
    const S = genSchema(r);
    const E = genEntities(r, S);
    const schemaless = r.chance(0.2);
    const list = JSON.parse(JSON.stringify(E.list));
    // a request for `del ete` (context {}) or `view`, principal User, resource Doc
    const action = r.chance(0.5) ? 'view' : 'del ete';
    let context = jsonValue(r, S.actions[action].app.ctx, S, E.ids);
    const what = r.int(10);
    if (what < 5) {
        for (let i = 0, n = 1 + r.int(2); i < n; i++) mutateValueTree(r, list);
    } else if (what < 8) {
        for (let i = 0, n = 1 + r.int(2); i < n; i++) mutateValueTree(r, { c: context });
        if (!context || typeof context !== 'object' || Array.isArray(context)) context = {};
    } else if (what === 8 && list.length > 1) {
        list.push(JSON.parse(JSON.stringify(r.pick(list)))); // duplicate uid
    } else {
        const e = r.pick(list);
        e.parents.push(r.pick([e.uid, { type: S.q('Team'), id: 'root' }, { type: S.q('Doc'), id: 'd0' }, { type: S.q('Nope'), id: 'x' }]));
    }
    const actionUid = { type: S.actionType, id: action };
    // The reference's verdict is what the harness sees: isAuthorized with
    // the schema (request validated) and no policies.
    const request = { principal: { type: S.q('User'), id: 'alice' }, action: actionUid, resource: { type: S.q('Doc'), id: 'd0' }, context };
    const a = cedar.isAuthorized({ ...request, ...(schemaless ? {} : { schema: S.text }), validateRequest: !schemaless,
        policies: { staticPolicies: '' }, entities: list });
    return {
        schema: schemaless ? null : S.text, entities: list, request,
        ok: a.type === 'success',
        why: a.type === 'success' ? '' : a.errors.map((e) => e.message).join('; '),
    };
}
