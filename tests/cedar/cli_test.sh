#!/bin/sh
# cli_test.sh: exit codes and outputs of `mandate policy validate|to-json|from-json|link|unlink`
# and `mandate schema check|to-json|from-json` (src/cli/cmd_policy.c, cmd_schema.c, cliutil.c),
# the commands the conformance suites do not drive.  Exit codes: 0 done, 1 refused (the
# input is read but does not pass: a type error, an unknown template), 2 usage or unreadable.
# Usage: cli_test.sh MANDATE_BIN EXAMPLES_DIR.  Prints "N passed, N failed" at the end.
set -u
M=${1:-${MANDATE_BIN:-}}
X=${2:-$(dirname "$0")/../../examples}
[ -x "$M" ] || { echo "skipped: mandate binary not found"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name expected_rc actual_rc
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: exit $3, expected $2"; fi
}
S=$X/schema.cedarschema
P=$X/policies.cedar

# ---- validate: the shipped policies against the shipped schema; a type error; usage errors
"$M" policy validate --schema "$S" "$P" >"$T/out"; check "validate examples" 0 $?
grep -q "valid (" "$T/out"; check "validate says valid" 0 $?
printf 'permit(principal is Mandate::Agent, action == Mandate::Action::"CallTool", resource)\nwhen { principal.risk == "high" };\n' >"$T/bad.cedar"
"$M" policy validate --schema "$S" "$T/bad.cedar" >"$T/out" 2>&1; check "validate a type error" 1 $?
grep -q "bad.cedar" "$T/out"; check "the error names the file" 0 $?
"$M" policy validate "$P" 2>/dev/null; check "validate without --schema" 2 $?
"$M" policy validate --schema "$T/missing" "$P" 2>/dev/null; check "validate, missing schema" 2 $?
printf 'permit(principal,' >"$T/syntax.cedar"
"$M" policy validate --schema "$S" "$T/syntax.cedar" 2>"$T/err"; check "validate a syntax error" 2 $?
grep -q "syntax.cedar:1:" "$T/err"; check "syntax error located file:line:col" 0 $?

# ---- to-json / from-json: a round trip keeps the policies (same validation, same text again)
"$M" policy to-json "$P" >"$T/p.json"; check "to-json" 0 $?
"$M" policy from-json "$T/p.json" >"$T/p2.cedar"; check "from-json" 0 $?
"$M" policy validate --schema "$S" "$T/p2.cedar" >/dev/null; check "round trip still validates" 0 $?
"$M" policy to-json "$T/p2.cedar" >"$T/p2.json"; check "to-json again" 0 $?
cmp -s "$T/p.json" "$T/p2.json"; check "to-json(from-json(x)) = x" 0 $?
echo '{"staticPolicies": 1}' >"$T/bad.json"
"$M" policy from-json "$T/bad.json" 2>/dev/null; check "from-json of a bad document" 2 $?

# ---- link / unlink a template
printf 'permit(principal == ?principal, action, resource in ?resource);\n' >"$T/t.cedar"
"$M" policy link "$T/t.cedar" --template policy0 --id l1 --principal 'Mandate::Agent::"a"' \
    --resource '{"type":"Mandate::Intent","id":"i"}' >"$T/l.json"; check "link" 0 $?
grep -q '"newId": "l1"' "$T/l.json"; check "the link is in the set" 0 $?
"$M" policy link "$T/l.json" --template policy0 --id l1 --principal 'Mandate::Agent::"b"' \
    --resource 'Mandate::Intent::"j"' 2>/dev/null; check "link an id already used" 1 $?
"$M" policy link "$T/t.cedar" --template nope --id l2 --principal 'Mandate::Agent::"a"' \
    --resource 'Mandate::Intent::"i"' 2>"$T/err"; check "link an unknown template" 1 $?
grep -q 'no template "nope"' "$T/err"; check "the refusal names the template" 0 $?
"$M" policy link "$T/t.cedar" --template policy0 --id l3 --principal 'not a uid' \
    --resource 'Mandate::Intent::"i"' 2>/dev/null; check "link a malformed uid" 1 $?
"$M" policy unlink "$T/l.json" --id l1 >"$T/u.json"; check "unlink" 0 $?
grep -q '"newId"' "$T/u.json"; check "the link is gone" 1 $?
"$M" policy unlink "$T/u.json" --id l1 2>/dev/null; check "unlink an unknown link" 1 $?

# ---- schema: check, to-json, from-json round trip
"$M" schema check "$S" >/dev/null; check "schema check" 0 $?
"$M" schema to-json "$S" >"$T/s.json"; check "schema to-json" 0 $?
"$M" schema check "$T/s.json" >/dev/null; check "schema check of the JSON syntax" 0 $?
"$M" schema from-json "$T/s.json" >"$T/s2.cedarschema"; check "schema from-json" 0 $?
"$M" policy validate --schema "$T/s2.cedarschema" "$P" >/dev/null; check "policies validate against the round trip" 0 $?
printf 'namespace X { entity A in [Nope]; }\n' >"$T/bad.cedarschema"
"$M" schema check "$T/bad.cedarschema" 2>/dev/null; check "schema with an unknown parent" 1 $?
"$M" schema from-json "$S" 2>/dev/null; check "from-json of Cedar text" 2 $?
"$M" schema 2>/dev/null; check "schema without a verb" 2 $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
