#!/usr/bin/env bash
# Downstream check of target-procurify under Meltano (issue 10, item 6), against a running
# sandbox: `meltano run` of a small extractor into target-procurify writing vendors, twice.
# The first run creates every vendor, the second finds them all unchanged (upsert by
# external_id: no duplicate); Meltano stores the STATE the target echoed; the sandbox holds
# each vendor once.
#
# Usage: NEXLA_PROCURIFY_ALLOW_LOOPBACK=1 bash .ci/downstream-target.sh CREDENTIAL.json WORKDIR
# (CREDENTIAL.json: `nexla-procurify sandbox --write-credential`; WORKDIR: a scratch folder,
# where Meltano gets its own virtual environment.) The extractor is a stand-in printing
# Singer messages; tap-procurify can take its place once it reads vendors.
set -euo pipefail
credential=$1
work=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
records=25
run_id="DS$(date +%s)"

python3 -m venv "$work/meltano-venv"
"$work/meltano-venv/bin/pip" install -q meltano
meltano="$work/meltano-venv/bin/meltano"

project="$work/meltano-target"
mkdir -p "$project"
cat > "$project/tap-vendors" <<EOF
#!/usr/bin/env bash
python3 - <<'PY'
import json
print(json.dumps({"type": "SCHEMA", "stream": "suppliers", "key_properties": ["external_id"],
                  "schema": {"type": "object", "properties": {"external_id": {"type": "string"}}}}))
for n in range($records):
    print(json.dumps({"type": "RECORD", "stream": "suppliers", "record": {
        "name": f"Downstream {n}", "email": [f"ds{n}@downstream.example"], "type": 3,
        "external_id": f"$run_id-{n}"}}))
print(json.dumps({"type": "STATE", "value": {"bookmarks": {"suppliers": {"sent": $records}}}}))
PY
EOF
chmod +x "$project/tap-vendors"
base_url=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_url"])' "$credential")
cat > "$project/meltano.yml" <<EOF
default_environment: dev
project_id: target-procurify-downstream
environments:
- name: dev
plugins:
  extractors:
  - name: tap-vendors
    namespace: tap_vendors
    executable: $project/tap-vendors
  loaders:
  - name: target-procurify
    namespace: target_procurify
    pip_url: $repo
    executable: target-procurify
    settings:
    - {name: client_id}
    - {name: client_secret, kind: password, sensitive: true}
    - {name: base_url}
    - {name: streams, kind: object}
    - {name: results_file}
    config:
      base_url: $base_url
      streams: {suppliers: {resource: vendors}}
      results_file: results.jsonl
EOF
cd "$project"
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$credential" "$1"; }
"$meltano" install > install.log 2>&1 || { cat install.log; exit 1; }
"$meltano" config set target-procurify client_id "$(field client_id)" > /dev/null 2>&1
"$meltano" config set target-procurify client_secret "$(field client_secret)" > /dev/null 2>&1

statuses() { python3 -c 'import collections, json; print(dict(collections.Counter(json.loads(l)["status"] for l in open("results.jsonl"))))'; }
"$meltano" run tap-vendors target-procurify > run1.log 2>&1 || { cat run1.log; exit 1; }
first=$(statuses)
[ "$first" = "{'created': $records}" ] || { echo "first run: $first"; cat run1.log; exit 1; }
"$meltano" state get dev:tap-vendors-to-target-procurify 2>/dev/null | grep -q "\"sent\": *$records" \
  || { echo "Meltano stored no state"; exit 1; }
"$meltano" run tap-vendors target-procurify > run2.log 2>&1 || { cat run2.log; exit 1; }
second=$(statuses)
[ "$second" = "{'unchanged': $records}" ] || { echo "second run: $second"; cat run2.log; exit 1; }
held=$("$repo/.venv/bin/nexla-procurify" read vendors --credential "$credential" 2>/dev/null \
  | grep -c "\"external_id\": *\"$run_id-" || true)
[ "$held" = "$records" ] || { echo "the sandbox holds $held vendors of this run, not $records"; exit 1; }
echo "target-procurify under Meltano: $records vendors created, then $records unchanged; state stored."
