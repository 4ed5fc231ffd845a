// gen-regress.mjs: regression cases found by the differential test
// (tests/node/cedar-difftest.mjs), written in the conformance format with the
// expected answers computed by cedar-wasm 4.10.0 (scripts/test-setup installs it):
//   node tests/cedar/regress/gen-regress.mjs
// Each case: schema (or null), entities, policies, requests; the files are
// <name>.{cedar,cedarschema,entities.json,json} next to this script.
// Data the reference REFUSES cannot be written in the conformance format: those
// cases go to refuse/<name>.{entities.json,request,cedarschema?,expect} (.request, not
// .json: the conformance runner reads every *.json),
// checked by tests/node/cedar-data-regress.mjs against `mandate policy eval`.
import fs from 'node:fs';

const cedar = await import(new URL('../../node/node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm.js', import.meta.url));
const dir = new URL('.', import.meta.url).pathname;

const U = (id) => ({ type: 'U', id });
const SCHEMA = 'entity G;\nentity U in [G] { x?: Long, ip?: ipaddr, y?: { a?: Long } };\n' +
    'action v appliesTo { principal: [U], resource: [U], context: { c?: Long } };\n';
const req = (p, r, context = {}) => ({ principal: U(p), action: { type: 'Action', id: 'v' }, resource: U(r), context });

const CASES = [
    {
        // Data acceptance: identical duplicate entities are deduplicated, not an error.
        name: 'data-identical-duplicate',
        entities: [{ uid: U('a'), attrs: { x: 1 }, parents: [] }, { uid: U('a'), attrs: { x: 1 }, parents: [] }],
        policies: 'permit (principal, action, resource) when { principal.x == 1 };',
        requests: [req('a', 'a'), req('b', 'a')],
    },
    {
        // Unknown keys in an entity object, a uid and a parent uid are ignored.
        name: 'data-unknown-keys',
        entities: [{ uid: { type: 'U', id: 'a', zz: 1 }, attrs: { x: 2 }, parents: [{ type: 'G', id: 'g', zz: 1 }], zz: 1 },
            { uid: { type: 'G', id: 'g' }, attrs: {}, parents: [] }],
        policies: 'permit (principal in G::"g", action, resource) when { principal.x == 2 };',
        requests: [req('a', 'a'), req('b', 'a')],
    },
    {
        // Unknown keys inside __extn are ignored: still an ipaddr.
        name: 'data-extn-unknown-inner-key',
        entities: [{ uid: U('a'), attrs: { ip: { __extn: { fn: 'ip', arg: '10.1.2.3', zz: 1 } } }, parents: [] }],
        policies: 'permit (principal, action, resource) when { principal.ip.isInRange(ip("10.0.0.0/8")) };',
        requests: [req('a', 'a')],
    },
    {
        // Schemaless: escapes with extra keys, or a bad __entity body, are plain records.
        name: 'data-escape-fallback-record',
        schema: null,
        entities: [{ uid: U('a'), attrs: { e: { __extn: { fn: 'ip', arg: '1.2.3.4' }, zz: 1 },
            f: { __entity: { type: 'U', id: 'a' }, zz: 2 }, g: { __entity: { type: 5, id: 'q' } } }, parents: [] }],
        policies: [
            'permit (principal, action, resource) when { principal.e has zz && principal.e.zz == 1 };',
            'permit (principal, action, resource) when { principal.e.isIpv4() };',
            'permit (principal, action, resource) when { principal.f.zz == 2 && principal.f has __entity };',
            'permit (principal, action, resource) when { principal.g.__entity.type == 5 };',
            'forbid (principal, action, resource) when { principal.f == U::"a" };',
        ].join('\n'),
        requests: [req('a', 'a')],
    },
    {
        // With a schema, an escape object with extra keys is still the escape the
        // declared type asks for (schemaless, it would be a record).
        name: 'data-schema-escape-extra-keys',
        schema: 'entity U { t: duration, u?: U };\naction v appliesTo { principal: [U], resource: [U] };\n',
        entities: [{ uid: U('a'), attrs: { t: { __extn: { fn: 'duration', arg: '1d' }, __entity: { type: 'U', id: 'b' } },
            u: { __entity: { type: 'U', id: 'a' }, __extn: { fn: 'ip', arg: '1.2.3.4' }, zz: 1 } }, parents: [] },
        { uid: U('b'), attrs: { t: { __extn: { fn: 'duration', arg: '2h' }, zz: 1 }, u: { type: 'U', id: 'a', zz: 1 } }, parents: [] }],
        policies: [
            'permit (principal, action, resource) when { principal.t == duration("1d") };',
            'permit (principal, action, resource) when { principal has u && principal.u == U::"a" };',
            'permit (principal, action, resource) when { principal.t == duration("2h") };',
        ].join('\n'),
        requests: [req('a', 'a'), req('b', 'b')],
    },
    {
        // A uid or parent whose __entity key is garbage falls back to the
        // implicit {type, id} form; with a schema, keys next to an escape are
        // not evaluated at all.
        name: 'data-uid-fallback-and-unevaluated-keys',
        schema: 'entity G;\nentity U in [G] { t: duration };\naction v appliesTo { principal: [U], resource: [U] };\n',
        entities: [{ uid: { type: 'U', id: 'a', __entity: { __entity: { type: 'U' } } },
            attrs: { t: { __extn: { fn: 'duration', arg: '-3d' }, age: { __extn: { fn: 'offset', args: [{ __extn: { fn: 'datetime', arg: '2024-01-01' } }] } } } },
            parents: [{ type: 'G', id: 'g', __entity: { __extn: { fn: 'ip', arg: '::1' } } }] },
        { uid: { type: 'G', id: 'g' }, attrs: {}, parents: [] }],
        policies: 'permit (principal in G::"g", action, resource) when { principal.t == duration("-3d") };',
        requests: [req('a', 'a')],
    },
];

for (const c of CASES) {
    const schema = c.schema === undefined ? SCHEMA : c.schema;
    // Schemaless cases leave out "schema" (and "shouldValidate"): mandate's
    // runner then reads the data with the schemaless rules.
    const test = { policies: c.name + '.cedar', entities: c.name + '.entities.json' };
    if (schema !== null) {
        test.schema = c.name + '.cedarschema';
        const v = cedar.validate({ schema, policies: { staticPolicies: c.policies }, validationSettings: { mode: 'strict' } });
        test.shouldValidate = v.type === 'success' && v.validationErrors.length === 0;
    }
    test.requests = [];
    c.requests.forEach((q, i) => {
        const a = cedar.isAuthorized({ ...q, ...(schema !== null ? { schema } : {}), validateRequest: schema !== null,
            policies: { staticPolicies: c.policies }, entities: c.entities });
        if (a.type !== 'success') throw new Error(c.name + ': the reference refuses: ' + JSON.stringify(a.errors));
        test.requests.push({ description: 'Request ' + i, ...q, validateRequest: schema !== null,
            decision: a.response.decision, reason: a.response.diagnostics.reason.slice().sort(),
            errors: a.response.diagnostics.errors.map((e) => e.policyId).sort() });
    });
    fs.writeFileSync(dir + c.name + '.cedar', c.policies + '\n');
    fs.writeFileSync(dir + c.name + '.entities.json', JSON.stringify(c.entities, null, 1) + '\n');
    if (schema !== null) fs.writeFileSync(dir + c.name + '.cedarschema', schema);
    fs.writeFileSync(dir + c.name + '.json', JSON.stringify(test, null, 1) + '\n');
    console.log(c.name + ': ' + test.requests.map((r) => r.decision + JSON.stringify(r.reason) + JSON.stringify(r.errors)).join(' '));
}

// ---- data the reference refuses -------------------------------------------

const REFUSE = [
    // Entity hierarchy cycles (with and without a schema), self-parent.
    { name: 'cycle-two', entities: [{ uid: { type: 'G', id: 'a' }, attrs: {}, parents: [{ type: 'G', id: 'b' }] },
        { uid: { type: 'G', id: 'b' }, attrs: {}, parents: [{ type: 'G', id: 'a' }] }] },
    { name: 'cycle-self', entities: [{ uid: { type: 'G', id: 'a' }, attrs: {}, parents: [{ type: 'G', id: 'a' }] }] },
    { name: 'cycle-schema', schema: 'entity G in [G];\nentity U in [G];\naction v appliesTo { principal: [U], resource: [U] };\n',
        entities: [{ uid: { type: 'G', id: 'a' }, attrs: {}, parents: [{ type: 'G', id: 'c' }] },
            { uid: { type: 'G', id: 'b' }, attrs: {}, parents: [{ type: 'G', id: 'a' }] },
            { uid: { type: 'G', id: 'c' }, attrs: {}, parents: [{ type: 'G', id: 'b' }] }] },
    // Required fields and shapes.
    { name: 'missing-attrs', entities: [{ uid: { type: 'U', id: 'a' }, parents: [] }] },
    { name: 'missing-parents', entities: [{ uid: { type: 'U', id: 'a' }, attrs: {} }] },
    { name: 'parents-object', entities: [{ uid: { type: 'U', id: 'a' }, attrs: {}, parents: {} }] },
    { name: 'action-non-action-parent', entities: [{ uid: { type: 'Action', id: 'v' }, attrs: {}, parents: [{ type: 'G', id: 'g' }] }] },
    // A JSON float anywhere is refused, even in a key that would be ignored.
    { name: 'float-in-ignored-key', entities: [{ uid: { type: 'U', id: 'a' },
        attrs: { ip: { __extn: { fn: 'ip', arg: '::1', __entity: 1.5 } } }, parents: [] }] },
];
fs.mkdirSync(dir + 'refuse', { recursive: true });
for (const c of REFUSE) {
    const q = { principal: U('a'), action: { type: 'Action', id: 'v' }, resource: U('a'), context: {} };
    const a = cedar.isAuthorized({ ...q, ...(c.schema ? { schema: c.schema } : {}), validateRequest: !!c.schema,
        policies: { staticPolicies: '' }, entities: c.entities });
    if (a.type === 'success') throw new Error(c.name + ': the reference accepts it');
    const base = dir + 'refuse/' + c.name;
    fs.writeFileSync(base + '.entities.json', JSON.stringify(c.entities, null, 1) + '\n');
    fs.writeFileSync(base + '.request', JSON.stringify(q) + '\n');
    if (c.schema) fs.writeFileSync(base + '.cedarschema', c.schema);
    fs.writeFileSync(base + '.expect', 'refuse: ' + a.errors.map((e) => e.message).join('; ') + '\n');
    console.log('refuse/' + c.name + ': ' + a.errors[0].message);
}
