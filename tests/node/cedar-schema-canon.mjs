// Shared by the schema difftests: the reference's resolved JSON schema in our
// canonical form (see print_resolved in test_cedar_schema.c): common types
// inlined, built-ins by name, entity types qualified, lists sorted.
export function canonReference(json) {
  const commons = {};
  const q = (ns, n) => (ns ? `${ns}::${n}` : n);
  for (const [ns, d] of Object.entries(json)) {
    for (const [n, t] of Object.entries(d.commonTypes || {})) commons[q(ns, n)] = t;
  }
  const prim = { Long: 'Long', String: 'String', Bool: 'Bool', Boolean: 'Bool', ipaddr: 'ipaddr',
    decimal: 'decimal', datetime: 'datetime', duration: 'duration' };
  function ty(t, depth = 0) {
    if (depth > 64) throw new Error('too deep');
    if (t.type === 'Entity') return { entity: t.name };
    if (t.type === 'Set') return { set: ty(t.element, depth + 1) };
    if (t.type === 'Record') {
      const o = {};
      for (const [k, a] of Object.entries(t.attributes || {})) o[k] = [a.required !== false, ty(a, depth + 1)];
      return { record: o };
    }
    if (t.type === 'Extension') return t.name;
    if (commons[t.type] !== undefined) return ty(commons[t.type], depth + 1);
    const n = t.type.startsWith('__cedar::') ? t.type.slice(9) : t.type;
    if (prim[n]) return prim[n];
    throw new Error(`unknown type ${t.type}`);
  }
  const entities = {}, actions = {};
  for (const [ns, d] of Object.entries(json)) {
    for (const [n, e] of Object.entries(d.entityTypes || {})) {
      entities[q(ns, n)] = {
        attrs: e.shape ? ty(e.shape) : { record: {} },
        enum: e.enum ? [...e.enum] : null,
        parents: [...(e.memberOfTypes || [])].sort(),
        tags: e.tags ? ty(e.tags) : null,
      };
    }
    for (const [id, a] of Object.entries(d.actions || {})) {
      const at = a.appliesTo || {};
      actions[`${q(ns, 'Action')}::${id}`] = {
        context: at.context ? ty(at.context) : { record: {} },
        parents: (a.memberOf || []).map((m) => `${m.type || q(ns, 'Action')}::${m.id}`).sort(),
        principals: [...(at.principalTypes || [])].sort(),
        resources: [...(at.resourceTypes || [])].sort(),
      };
    }
  }
  return { actions, entities };
}
