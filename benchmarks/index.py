"""Write benchmarks/README.md: one row per committed result, read from the result files only."""

from __future__ import annotations

import json
from pathlib import Path

from autoorder.schema.benchmark import read_benchmark

HERE = Path(__file__).resolve().parent

HEAD = """# Benchmarks

Results of real runs of the committed code with the committed commands, in the manner of timm's
`results/`. Each row links the full report (controls, per-order accuracy, the best
configurations side by side, plots). Regenerate everything with `bash benchmarks/regenerate.sh`
(or name some: `bash benchmarks/regenerate.sh glyph-views`); this index is rewritten from the
result files by `python benchmarks/index.py`.

Accuracies are test accuracy per photo on a held-out split no search saw, mean over retraining
seeds with a 95% Student-t interval over seeds; the gain is paired by seed (same split, same
backbone initialisation). "Shuffled" is the order-aware model with orders permuted across test
photos: if the model really uses the order, the gain vanishes there.

| result | dataset | backbone | image-only % | order-aware % | gain, points [95% CI] | shuffled-order control % | per object: image-only / order-aware % | seeds | command | date | machine |
|---|---|---|---|---|---|---|---|---|---|---|---|
"""


def pct(ci) -> str:
    s = f"{100 * ci.mean:.1f}"
    if ci.low is not None and ci.high is not None:
        s += f" [{100 * ci.low:.1f}, {100 * ci.high:.1f}]"
    return s


def main() -> None:
    rows = []
    for path in sorted(HERE.glob("*/results/benchmark.json")):
        r = read_benchmark(path.parent)
        name = path.parent.parent.name
        best = r.searches["order_aware"].best.hyperparameters
        gain = pct(r.gain) + ("" if r.gain.excludes_zero else " (includes 0)")
        m = r.machine
        ds = r.dataset
        rows.append(
            f"| [{name}]({name}/results/report.md) | {ds.name or '?'} ({ds.images} photos) "
            f"| {best.get('backbone')} | {pct(r.image_only.test_accuracy)} | {pct(r.order_aware.test_accuracy)} "
            f"| **{gain}** | {pct(r.controls['shuffled_order'])} "
            f"| {100 * r.image_only.object_accuracy.mean:.1f} / {100 * r.order_aware.object_accuracy.mean:.1f} "
            f"| {len(r.seeds)} | `{r.command or ''}` | {r.date or ''} | {m.get('cpus', '?')} CPUs, {m.get('processor', '')} |"
        )
    text = HEAD + "\n".join(rows) + "\n"
    perf = HERE / "perf" / "results.json"
    if perf.exists():
        p = json.loads(perf.read_text())
        text += (
            "\n## Speed\n\n"
            f"[perf/README.md](perf/README.md): the same {p['settings']['trials']} trials x {p['settings']['epochs']} epochs "
            f"({p['settings']['backbone']} frozen, {p['settings']['image_size']} px, {p['images']} images) through autoorder and "
            f"through plain Keras Tuner: **{p['speedup']:.1f}x** faster (worst round), "
            f"**{p['floor_ratio']:.2f}x** of the floor, memory growth {p['memory']['growth_mb']:+.0f} MB over "
            f"{p['memory']['trials']} trials. Command: `{p['command']}`, {p['date']}.\n"
        )
    (HERE / "README.md").write_text(text)


if __name__ == "__main__":
    main()
