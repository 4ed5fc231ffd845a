#!/bin/sh
# cli_test.sh: exit codes and outputs of `mandate key|token|dpop` (J1's CLI).
# Usage: cli_test.sh MANDATE_BIN.  Prints "N passed, N failed" at the end.
set -u
M=${1:-${MANDATE_BIN:-}}
[ -x "$M" ] || { echo "skipped: mandate binary not found"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name expected_rc actual_rc
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: exit $3, expected $2"; fi
}
now=$(date +%s)
claims="{\"iss\":\"https://i.example\",\"aud\":\"mandate\",\"exp\":$((now + 300)),\"iat\":$now}"
for alg in ES256 ES384 EdDSA RS256 PS256; do
    "$M" key generate --alg $alg --kid k1 >"$T/k.json"; check "key generate $alg" 0 $?
    grep -q '"d":' "$T/k.json"; check "private member in $alg key" 0 $?
    tok=$("$M" token sign --key "$T/k.json" --claims "$claims"); check "token sign $alg" 0 $?
    out=$(echo "$tok" | "$M" token verify --jwks "$T/k.json" --iss https://i.example --aud mandate)
    check "token verify $alg" 0 $?
    echo "$out" | grep -q "\"alg\":\"$alg\""; check "verify output header $alg" 0 $?
    echo "$tok" | "$M" token verify --jwks "$T/k.json" --aud other 2>"$T/err"; check "wrong aud $alg" 1 $?
    grep -q "^invalid token: bad_aud" "$T/err"; check "reason line $alg" 0 $?
done
"$M" key generate --alg ES256 >"$T/other.json"
echo "$tok" | "$M" token verify --jwks "$T/other.json" 2>/dev/null; check "unknown kid" 1 $?
echo "$tok" | "$M" token verify --jwks "$T/k.json" --alg ES256 2>/dev/null; check "alg not allowed" 1 $?
echo "$tok" | "$M" token verify --jwks "$T/k.json" --skew 0 --max-lifetime 10 2>/dev/null; check "lifetime" 1 $?
echo "eyJhbGciOiJub25lIn0.e30." | "$M" token verify --jwks "$T/k.json" 2>/dev/null; check "alg none" 1 $?
echo "garbage" | "$M" token verify --jwks "$T/k.json" 2>/dev/null; check "garbage" 1 $?
head -c 20000 /dev/zero | tr '\0' a | "$M" token verify --jwks "$T/k.json" 2>/dev/null; check "oversized" 1 $?
"$M" token verify 2>/dev/null </dev/null; check "verify without --jwks" 2 $?
"$M" token verify --jwks "$T/missing.json" 2>/dev/null </dev/null; check "missing jwks file" 2 $?
"$M" token sign --key "$T/k.json" --claims '[1]' 2>/dev/null; check "claims not an object" 2 $?
"$M" key generate --alg HS256 2>/dev/null; check "key generate HS256" 2 $?
"$M" key generate --alg none 2>/dev/null; check "key generate none" 2 $?
"$M" token --help >/dev/null; check "token --help" 0 $?
# DPoP
"$M" key generate --alg EdDSA >"$T/d.json"
p=$("$M" dpop create --key "$T/d.json" --htm POST --htu https://m.example/v1/check --ath-token "$tok")
check "dpop create" 0 $?
out=$(echo "$p" | "$M" dpop verify --htm POST --htu HTTPS://M.example:443/v1/check --ath-token "$tok")
check "dpop verify" 0 $?
jkt=$(echo "$out" | sed 's/.*"jkt":"\([^"]*\)".*/\1/')
echo "$p" | "$M" dpop verify --htm POST --htu https://m.example/v1/check --jkt "$jkt" >/dev/null
check "dpop verify --jkt right" 0 $?
echo "$p" | "$M" dpop verify --htm POST --htu https://m.example/v1/check --jkt AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 2>/dev/null
check "dpop verify --jkt wrong" 1 $?
echo "$p" | "$M" dpop verify --htm GET --htu https://m.example/v1/check 2>/dev/null; check "dpop htm" 1 $?
echo "$p" | "$M" dpop verify --htm POST --htu https://m.example/v1/other 2>/dev/null; check "dpop htu" 1 $?
echo "$p" | "$M" dpop verify --htm POST --htu https://m.example/v1/check --ath-token x 2>/dev/null; check "dpop ath" 1 $?
echo "$p" | "$M" dpop verify --htm POST --htu https://m.example/v1/check --nonce n1 2>/dev/null; check "dpop nonce" 1 $?
echo "$tok" | "$M" dpop verify --htm POST --htu https://m.example/v1/check 2>"$T/err"; check "token as proof" 1 $?
grep -q "^invalid proof: bad_typ" "$T/err"; check "proof reason line" 0 $?
"$M" dpop verify --htm POST 2>/dev/null </dev/null; check "dpop verify without --htu" 2 $?
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
