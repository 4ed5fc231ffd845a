// Regenerates cases/language.{cedar,entities.json,json} from language-conds.txt, with the
// expected answers computed by cedar-wasm 4.10.0 (scripts/test-setup installs it):
//   node tests/cedar/gen-language.mjs
import fs from 'fs';
const cedar = await import(new URL('../node/node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm.js', import.meta.url));
const here = new URL('.', import.meta.url).pathname;
const dir = here + 'cases';
const conds = fs.readFileSync(here + 'language-conds.txt', 'utf8').split('\n').filter(Boolean);
const text = '// Language edge cases, one policy each; expected answers from cedar-wasm 4.10.0.\n' +
  conds.map((c) => `permit(principal, action, resource) when { ${c} };`).join('\n') + '\n' +
  'forbid(principal in Team::"blocked", action, resource,);\n';
fs.writeFileSync(dir + '/language.cedar', text);
const entities = [
  {uid:{type:'User',id:'alice'},attrs:{a:{b:1},age:3,name:'Al\u0000ice'},parents:[{type:'Team',id:'t'}],tags:{env:'prod'}},
  {uid:{type:'User',id:'bob'},attrs:{age:-4611686018427387904},parents:[{type:'Team',id:'blocked'}]},
  {uid:{type:'Team',id:'t'},attrs:{},parents:[{type:'Team',id:'org'}]},
  {uid:{type:'Team',id:'blocked'},attrs:{},parents:[]},
];
fs.writeFileSync(dir + '/language.entities.json', JSON.stringify(entities, null, 1) + '\n');
const reqs = [
  ['alice', {a:1,"x y":2,s:'abc',n:4611686018427387904, ip:{__extn:{fn:'ip',arg:'10.1.2.3'}}}],
  ['bob', {a:2,"x y":2,s:'',n:-1, ip:{__extn:{fn:'ip',arg:'::1'}}}],
  ['carol', {a:1,"x y":0,s:'a*c',n:0, ip:{__extn:{fn:'ip',arg:'224.0.0.1'}}}],
];
const out = [];
for (const [p, ctx] of reqs) {
  const q = {principal:{type:'User',id:p},action:{type:'Action',id:'a'},resource:{type:'R',id:'r'},context:ctx};
  const r = cedar.isAuthorized({ ...q, policies: { staticPolicies: text }, entities });
  if (r.type !== 'success') throw new Error(JSON.stringify(r.errors));
  out.push({description: 'principal ' + p, ...q, decision: r.response.decision,
    reason: r.response.diagnostics.reason.sort(), errors: r.response.diagnostics.errors.map((e) => e.policyId).sort()});
}
fs.writeFileSync(dir + '/language.json', JSON.stringify({policies:'language.cedar', entities:'language.entities.json', requests: out}, null, 1) + '\n');
console.log(out.map((o) => o.decision + ' ' + o.reason.length + ' ' + o.errors.length).join('\n'));
