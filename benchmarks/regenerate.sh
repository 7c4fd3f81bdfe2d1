#!/usr/bin/env bash
# Regenerate every committed benchmark result from the committed code and configs (benchmark protocol 2).
#   bash benchmarks/regenerate.sh                      # all rows, REPEATS=5 outer repeats x SEEDS=5 seeds
#   bash benchmarks/regenerate.sh glyph-views          # some rows
#   REPEATS=1 SEEDS=2 bash benchmarks/regenerate.sh digits-views   # a quick, smaller run
# Hours on 2 CPU cores (see the estimate in benchmarks/README.md). A killed run resumes where it stopped:
# run the same command again. Results made by an older protocol (version 1) are replaced, not resumed.
set -euo pipefail
cd "$(dirname "$0")"
REPEATS=${REPEATS:-5}
SEEDS=${SEEDS:-5}

data() {  # FOLDER GENERATOR ARGS...: generated data is not committed; it is made again, identically, from the seed
  local folder=$1 generator=$2
  shift 2
  if [ -f "data/$folder/dataset.json" ] && ! grep -q '"seed_salt"' "data/$folder/dataset.json"; then
    echo "data/$folder was generated before seeds were salted by dataset name: generating it again"
    rm -rf "data/$folder"
  fi
  [ -f "data/$folder/manifest.csv" ] || autoorder datasets make "$generator" --out "data/$folder" "$@"
}
data glyph-views glyph-views --seed 0 --objects 480 --image-size 32 --classes bdpqnu69
data glyph-views-36 glyph-views --seed 1 --objects 1080 --image-size 32
data digits-views digits-views --seed 0 --objects 600 --image-size 32
data glyph-caps glyph-caps --seed 0 --objects 780 --image-size 32

pretrain() {  # the keras_file backbone of the *-pretrained rows; made again when absent or older than its data
  if [ ! -f pretrain/run/best_model.keras ] || [ data/glyph-caps/manifest.csv -nt pretrain/run/best_model.keras ]; then
    rm -rf pretrain/run
    autoorder search pretrain/source.yaml --out pretrain/run
  fi
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(glyph-views glyph-views-pretrained digits-views digits-views-pretrained glyph-views-36)
for t in "${targets[@]}"; do
  [[ "$t" != *-pretrained ]] || pretrain
  if [ -d "$t/results" ] && ! grep -q '"protocol": 2' "$t/results/benchmark.state.json" 2>/dev/null; then
    echo "$t/results holds a benchmark of an older protocol: replacing it"
    rm -rf "$t/results"
  fi
  autoorder benchmark "$t/config.yaml" --out "$t/results" --repeats "$REPEATS" --seeds "$SEEDS"
done
python index.py
