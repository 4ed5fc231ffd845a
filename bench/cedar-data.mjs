// cedar-data.mjs: generates the Cedar benchmark inputs (fixed seed).
//
//   node bench/cedar-data.mjs DIR
//
// Writes DIR/<scenario>/{policies.cedar,entities.json,requests.jsonl} for:
//   small        20 policies (when/unless over context, `in` hierarchies), 12 entities
//   estate-50    an agent estate: 1,000 agents in teams 4 levels deep, 50 owners,
//   estate-500   200 tools in 20 groups; 50, 500 or 5,000 policies (the same
//   estate-5000  estate and policy mix; the smaller sets are prefixes)
// Each scenario has 1,000 requests (one JSON object per line, the
// `mandate policy eval --batch` format).  No schema: both engines run
// schemaless on the same data.

import fs from 'node:fs';
import path from 'node:path';

function rngFrom(seed) {
    let s = seed >>> 0;
    const next = () => {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        return (z ^ (z >>> 16)) >>> 0;
    };
    return { int: (n) => next() % n, pick: (a) => a[next() % a.length], chance: (p) => next() / 4294967296 < p };
}

const uid = (type, id) => ({ type, id });
const A = (id) => uid('Action', id);
const ref = (type, id) => ({ __entity: uid(type, id) });
const actions = () => [
    { uid: A('Tools'), attrs: {}, parents: [] },
    { uid: A('CallTool'), attrs: {}, parents: [A('Tools')] },
    { uid: A('ReadTool'), attrs: {}, parents: [A('Tools')] },
    { uid: A('StartTask'), attrs: {}, parents: [] },
];

function write(dir, name, policies, entities, requests) {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'policies.cedar'), policies.join('\n') + '\n');
    fs.writeFileSync(path.join(d, 'entities.json'), JSON.stringify(entities) + '\n');
    fs.writeFileSync(path.join(d, 'requests.jsonl'), requests.map((q) => JSON.stringify(q)).join('\n') + '\n');
}

// ---- (a) small -----------------------------------------------------------

function small(dir) {
    const r = rngFrom(7);
    const ents = [
        { uid: uid('Team', 'org'), attrs: {}, parents: [] },
        { uid: uid('Team', 'eng'), attrs: {}, parents: [uid('Team', 'org')] },
        { uid: uid('Team', 'ml'), attrs: {}, parents: [uid('Team', 'eng')] },
        { uid: uid('Human', 'hana'), attrs: { email: 'hana@example.com', status: 'active' }, parents: [uid('Team', 'eng')] },
        { uid: uid('Agent', 'a1'), attrs: { owner: ref('Human', 'hana'), env: 'prod', risk: 3, status: 'active' }, parents: [uid('Team', 'ml')] },
        { uid: uid('Agent', 'a2'), attrs: { owner: ref('Human', 'hana'), env: 'dev', risk: 7, status: 'active' }, parents: [uid('Team', 'eng')] },
        { uid: uid('ToolGroup', 'read'), attrs: {}, parents: [] },
        { uid: uid('Tool', 'search'), attrs: { system: 'web', sensitivity: 1 }, parents: [uid('ToolGroup', 'read')] },
        { uid: uid('Tool', 'db'), attrs: { system: 'crm', sensitivity: 6 }, parents: [uid('ToolGroup', 'read')] },
        { uid: uid('Tool', 'pay'), attrs: { system: 'billing', sensitivity: 9 }, parents: [] },
    ].concat(actions().slice(0, 2));
    const P = [
        'permit (principal in Team::"eng", action == Action::"CallTool", resource in ToolGroup::"read") when { context.calls < 100 };',
        'permit (principal == Agent::"a1", action in Action::"Tools", resource == Tool::"pay") when { context.approved && context.amount <= 500 };',
        'forbid (principal, action, resource) when { principal has status && principal.status != "active" };',
        'forbid (principal is Agent, action, resource) when { principal.risk > 5 && resource.sensitivity > 5 };',
        'forbid (principal, action == Action::"CallTool", resource) unless { context.env == principal.env };',
        'permit (principal in Team::"org", action, resource == Tool::"search") when { context.labels.contains("public") };',
        'forbid (principal, action, resource in ToolGroup::"read") when { context.hour < 6 || context.hour > 22 };',
        'permit (principal is Agent in Team::"ml", action, resource) when { resource has sensitivity && resource.sensitivity <= principal.risk + 2 };',
        'forbid (principal, action, resource == Tool::"db") unless { context.labels.containsAny(["crm", "internal"]) };',
        'permit (principal, action, resource) when { principal has owner && principal.owner == context.onBehalfOf && context.depth < 3 };',
        'forbid (principal, action, resource) when { context.depth > 4 };',
        'permit (principal in Team::"eng", action == Action::"CallTool", resource) when { context.task like "ticket-*" };',
        'forbid (principal, action, resource is Tool) when { resource.system == "billing" && !context.approved };',
        'permit (principal == Agent::"a2", action, resource in ToolGroup::"read") unless { context.calls >= 50 };',
        'forbid (principal in Team::"ml", action, resource) when { context has blocked && context.blocked };',
        'permit (principal, action in [Action::"CallTool", Action::"ReadTool"], resource) when { context.labels.isEmpty() && context.hour == 12 };',
        'forbid (principal, action, resource) when { context.calls * 2 > 1000 };',
        'permit (principal is Agent, action, resource is Tool) when { principal in Team::"eng" && resource in ToolGroup::"read" && context.env == "prod" };',
        'forbid (principal, action, resource == Tool::"pay") unless { principal in Team::"ml" };',
        'permit (principal, action, resource) when { if context.approved then context.amount < 1000 else false };',
    ];
    const reqs = [];
    const agents = ['a1', 'a2', 'a3'];
    const tools = ['search', 'db', 'pay'];
    for (let i = 0; i < 1000; i++) {
        reqs.push({
            principal: uid('Agent', r.pick(agents)), action: A(r.chance(0.8) ? 'CallTool' : 'ReadTool'),
            resource: uid('Tool', r.pick(tools)),
            context: {
                calls: r.int(150), hour: r.int(24), env: r.pick(['prod', 'dev']), approved: r.chance(0.5),
                amount: r.int(2000), depth: r.int(6), task: r.pick(['ticket-12', 'adhoc']),
                labels: r.pick([[], ['public'], ['crm'], ['public', 'internal']]),
                onBehalfOf: ref('Human', r.pick(['hana', 'bob'])),
            },
        });
    }
    write(dir, 'small', P, ents, reqs);
}

// ---- (b, c) the agent estate --------------------------------------------

function estate(dir) {
    const r = rngFrom(11);
    const ents = actions();
    const teams = [];
    const leafTeams = [];
    ents.push({ uid: uid('Team', 'org'), attrs: {}, parents: [] });
    teams.push('org');
    for (let d = 0; d < 4; d++) {
        const dv = 'div' + d;
        ents.push({ uid: uid('Team', dv), attrs: {}, parents: [uid('Team', 'org')] });
        teams.push(dv);
        for (let p = 0; p < 4; p++) {
            const dp = dv + '-dept' + p;
            ents.push({ uid: uid('Team', dp), attrs: {}, parents: [uid('Team', dv)] });
            teams.push(dp);
            for (let t = 0; t < 4; t++) {
                const tm = dp + '-team' + t;
                ents.push({ uid: uid('Team', tm), attrs: {}, parents: [uid('Team', dp)] });
                teams.push(tm);
                leafTeams.push(tm);
            }
        }
    }
    const humans = [];
    for (let i = 0; i < 50; i++) {
        humans.push('h' + i);
        ents.push({ uid: uid('Human', 'h' + i), attrs: { email: 'h' + i + '@example.com', status: 'active' },
            parents: [uid('Team', r.pick(teams))] });
    }
    const agents = [];
    for (let i = 0; i < 1000; i++) {
        agents.push('agent-' + i);
        ents.push({ uid: uid('Agent', 'agent-' + i),
            attrs: { owner: ref('Human', r.pick(humans)), env: r.chance(0.7) ? 'prod' : 'dev', risk: r.int(10),
                status: r.chance(0.97) ? 'active' : 'suspended' },
            parents: [uid('Team', r.pick(leafTeams))] });
    }
    const groups = [];
    for (let i = 0; i < 20; i++) {
        groups.push('group-' + i);
        ents.push({ uid: uid('ToolGroup', 'group-' + i), attrs: {}, parents: [] });
    }
    const tools = [];
    for (let i = 0; i < 200; i++) {
        tools.push('tool-' + i);
        ents.push({ uid: uid('Tool', 'tool-' + i), attrs: { system: r.pick(['crm', 'web', 'billing', 'code']), sensitivity: r.int(10) },
            parents: [uid('ToolGroup', r.pick(groups))] });
    }
    // Policies: 4 that apply to every request, then a mix scoped by
    // principal/resource.  Pairs (agent, tool) that some policy permits feed
    // the requests so that a fair share is allowed.
    const P = [
        'forbid (principal, action, resource) when { principal has status && principal.status == "suspended" };',
        'forbid (principal is Agent, action == Action::"CallTool", resource is Tool) when { resource.sensitivity > principal.risk + 6 };',
        'forbid (principal, action, resource) when { context.depth > 5 };',
        'permit (principal, action == Action::"ReadTool", resource) when { context.env == "prod" && context.calls < 10 };',
    ];
    const pairs = [];
    while (P.length < 5000) {
        const c = r.int(100);
        const ag = r.pick(agents), tl = r.pick(tools), tm = r.pick(teams), gr = r.pick(groups);
        if (c < 55) {
            P.push('permit (principal == Agent::"' + ag + '", action == Action::"CallTool", resource == Tool::"' + tl +
                '") when { context.calls < ' + (50 + r.int(100)) + ' };');
            pairs.push([ag, tl]);
        } else if (c < 70) {
            P.push('permit (principal == Agent::"' + ag + '", action in Action::"Tools", resource in ToolGroup::"' + gr +
                '") unless { context.risk > ' + (3 + r.int(7)) + ' };');
        } else if (c < 80) {
            P.push('permit (principal in Team::"' + tm + '", action == Action::"CallTool", resource == Tool::"' + tl +
                '") when { principal.env == "prod" && context.hour >= 8 && context.hour < 20 };');
        } else if (c < 90) {
            P.push('forbid (principal, action, resource == Tool::"' + tl + '") when { context.labels.contains("pii") && principal.risk > ' +
                r.int(10) + ' };');
        } else {
            P.push('forbid (principal == Agent::"' + ag + '", action, resource in ToolGroup::"' + gr +
                '") when { context.onBehalfOf != principal.owner };');
        }
    }
    const reqs = [];
    for (let i = 0; i < 1000; i++) {
        let ag = r.pick(agents), tl = r.pick(tools);
        if (r.chance(0.5)) [ag, tl] = pairs[r.int(Math.min(pairs.length, 25))]; // pairs in every prefix
        reqs.push({
            principal: uid('Agent', ag), action: A(r.chance(0.9) ? 'CallTool' : 'ReadTool'), resource: uid('Tool', tl),
            context: { calls: r.int(150), hour: r.int(24), env: 'prod', risk: r.int(10), depth: r.int(7),
                labels: r.pick([[], ['pii'], ['public']]), onBehalfOf: ref('Human', r.pick(humans)) },
        });
    }
    for (const n of [50, 500, 5000]) write(dir, 'estate-' + n, P.slice(0, n), ents, reqs);
}

const dir = process.argv[2];
if (!dir) {
    console.error('usage: node bench/cedar-data.mjs DIR');
    process.exit(2);
}
small(dir);
estate(dir);
