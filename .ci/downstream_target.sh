#!/usr/bin/env bash
# Downstream check of target-procurify under Meltano (issue 10, items 2 and 6), run by
# .ci/downstream against two running sandboxes: `meltano run tap-procurify vendors-to-procurify
# target-procurify`, twice. tap-procurify reads the vendors of the first sandbox; a mapper
# (meltano-map-transform, the Meltano SDK's stream maps) keeps the fields Procurify's vendor
# request takes and gives each a new external_id (DS-...); target-procurify upserts them by
# external_id into the second sandbox. The first run creates every vendor, the second finds
# them all unchanged (no duplicate); Meltano stores the STATE the target echoed (the tap's
# bookmark); the second sandbox then holds each vendor once.
#
# Usage: NEXLA_PROCURIFY_ALLOW_LOOPBACK=1 bash .ci/downstream_target.sh \
#            SOURCE_CREDENTIAL.json TARGET_CREDENTIAL.json WORKDIR MELTANO NEXLA_PROCURIFY
# (credentials: `nexla-procurify sandbox --write-credential`; WORKDIR: a scratch folder for the
# Meltano project, where Meltano gives each plugin its own virtual environment; MELTANO and
# NEXLA_PROCURIFY: the executables, the latter to count the vendors the second sandbox holds.)
set -euo pipefail
source_credential=$1
target_credential=$2
work=$3
meltano=$4
nexla_procurify=$5
repo=$(cd "$(dirname "$0")/.." && pwd)

field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
records=$("$nexla_procurify" read vendors --credential "$source_credential" 2>/dev/null |
    grep -c '"type": *"RECORD"' || true)
[ "$records" -gt 0 ] || { echo "the source sandbox has no vendor"; exit 1; }

project="$work/meltano-target"
mkdir -p "$project"
# The head of meltano.yml (tap-procurify, as .ci/downstream_meltano.py declares it), then the
# mapper and target-procurify.
{
    python3 "$repo/.ci/downstream_common.py" meltano-head target-procurify-downstream "$repo" \
        "$source_credential" 'vendors.*'
    cat <<EOF
  mappers:
  - name: meltano-map-transformer
    namespace: meltano_map_transformer
    pip_url: meltano-map-transform
    executable: meltano-map-transform
    mappings:
    - name: vendors-to-procurify
      config:
        stream_maps:
          vendors:
            __else__: null
            __key_properties__: [external_id]
            name: name
            email: email
            type: type
            overall_score: overall_score
            active: active
            external_id: "'DS-' + external_id"
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
      base_url: $(field "$target_credential" base_url)
      client_id: $(field "$target_credential" client_id)
      streams: {vendors: {resource: vendors}}
      results_file: results.jsonl
EOF
} >"$project/meltano.yml"
cd "$project"
# The secrets in the project's .env, where Meltano keeps them.
(
    umask 077
    printf 'TAP_PROCURIFY_CLIENT_SECRET=%s\nTARGET_PROCURIFY_CLIENT_SECRET=%s\n' \
        "$(field "$source_credential" client_secret)" "$(field "$target_credential" client_secret)" >.env
)
"$meltano" install >install.log 2>&1 || { cat install.log; exit 1; }

statuses() { python3 -c 'import collections, json; print(dict(collections.Counter(json.loads(l)["status"] for l in open("results.jsonl"))))'; }
run() { "$meltano" run tap-procurify vendors-to-procurify target-procurify >"$1" 2>&1 || { cat "$1"; exit 1; }; }
run run1.log
first=$(statuses)
[ "$first" = "{'created': $records}" ] || { echo "first run: $first"; cat run1.log; exit 1; }
state_id=dev:tap-procurify-to-target-procurify
"$meltano" state get "$state_id" 2>/dev/null | grep -q '"vendors"' ||
    { echo "Meltano stored no state for vendors:"; "$meltano" state list; exit 1; }
run run2.log
second=$(statuses)
[ "$second" = "{'unchanged': $records}" ] || { echo "second run: $second"; cat run2.log; exit 1; }
held=$("$nexla_procurify" read vendors --credential "$target_credential" 2>/dev/null |
    grep -c '"external_id": *"DS-' || true)
[ "$held" = "$records" ] || { echo "the target sandbox holds $held vendors of this run, not $records"; exit 1; }
echo "downstream meltano-target: tap-procurify -> mapper -> target-procurify under Meltano:" \
    "$records vendors created, then $records unchanged; the state stored; each held once"
