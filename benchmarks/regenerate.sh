#!/usr/bin/env bash
# Regenerate every committed benchmark result from the committed code and configs.
#   bash benchmarks/regenerate.sh            # all (about an hour on 2 CPU cores)
#   bash benchmarks/regenerate.sh glyph-views digits-views   # some
set -euo pipefail
cd "$(dirname "$0")"
SEEDS=${SEEDS:-3}
data() {  # generated data is not committed: it is made again, identically, from the seed
  [ -f "data/$1/manifest.csv" ] || autoorder datasets make "$1" --out "data/$1" "${@:2}"
}
data glyph-views --seed 0 --objects 480 --image-size 32 --classes bdpqnu69
data digits-views --seed 0 --objects 600 --image-size 32
data glyph-caps --seed 0 --objects 780 --image-size 32
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(glyph-views digits-views glyph-views-pretrained digits-views-pretrained)
for t in "${targets[@]}"; do
  if [[ "$t" == *-pretrained ]] && [ ! -f pretrain/run/best_model.keras ]; then
    autoorder search pretrain/source.yaml --out pretrain/run
  fi
  autoorder benchmark "$t/config.yaml" --out "$t/results" --seeds "$SEEDS" --overwrite
done
python "$(dirname "$0")/index.py"
