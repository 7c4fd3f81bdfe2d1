"""Write benchmarks/README.md: one row per committed result, read from the result files only.

The primary endpoint, the p-values and their Holm adjustment across the rows, and each row's
scope (its scope.md, and the view classifier recorded in its benchmark.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from scipy import stats

from autoorder.core.bootstrap import holm
from autoorder.schema.benchmark import BenchmarkResult, read_benchmark

HERE = Path(__file__).resolve().parent
ALPHA = 0.025  # one-sided, family-wise: the same level as the lower end of a two-sided 95% interval

VERSION1 = """- Version 1 rows (the old protocol: one split, one search per model, 3 seeds): the interval is Student-t
  over seeds and the p-value a one-sided paired t-test over the seeds, computed here from the per-seed
  gains. They cover retraining noise on one split only, not another split or search, and will be
  replaced when `bash benchmarks/regenerate.sh` is run on the current code.
"""

HEAD = """# Benchmarks

Results of real runs of the committed code with the committed commands, in the manner of timm's
`results/`. Each row links the full report (controls, per-class and per-order accuracy, the chosen
configurations, plots). Regenerate everything with `bash benchmarks/regenerate.sh` (or name some:
`bash benchmarks/regenerate.sh glyph-views`); this index is rewritten from the result files by
`python benchmarks/index.py`. The rows' configs set `tuner.trainer: keras` (Keras' `Model.fit`), the
trainer they were made with; autoorder's default lean loop trains the same models up to float
rounding and has not been used for these figures yet.

## Primary endpoint

**The per-photo test-accuracy gain**: order-aware minus image-only accuracy on held-out test photos
no search saw, paired by repeat and seed, averaged over the outer repeats (each its own split and
search seed) and the retraining seeds of each. Each row tests "gain > 0" one-sided; the p-values are
Holm-adjusted across the rows of this table, and a row shows an effect when its adjusted p-value is
below {alpha} (one-sided; the level of a two-sided 95% interval's lower end).

- Protocol 2 rows: the 95% interval is a hierarchical bootstrap over repeats, seeds and test objects
  (percentile levels widened for few repeats); `P(gain > 0)` is the share of bootstrap replicates above
  zero; the p-value is benchmark.json's `gain.p_value`, the one-sided test that goes with that interval,
  T_(K-1)(-gain / (sqrt(K/(K-1)) sd)) with sd the replicates' standard deviation and K the repeats
  (with one repeat: the share of replicates at or below zero). Not 1 - P(gain > 0): with 5 repeats that
  share cannot resolve p-values below about 0.015, whatever the number of resamples.
{version1}
| result | protocol | design | image-only % | order-aware % | gain, points [95% interval] | P(gain > 0) | p (one-sided) | Holm-adjusted p | effect |
|---|---|---|---|---|---|---|---|---|---|
"""

SCOPE_HEAD = """
## Scope of each row

All data are synthetic photos generated from real material that ships with the dependencies
(`autoorder datasets list`); every object is photographed front, back and other, uploaded in that
order 99% of the time. The view classifier is a logistic regression on 8x8 grayscale pixels of a
single photo predicting its order value (trained on each repeat's train split, tested on its test
split): when it is high, the order is a free, clean label of the view, and a gain from feeding it is
sample and model efficiency rather than information the photos lack.

| result | scope | view classifier % (always the most frequent order %) | controls: shuffled order / constant order / orders unknown % | per object: image-only / order-aware % |
|---|---|---|---|---|
"""

PROVENANCE_HEAD = """
## Provenance

Search time is the sum of the recorded times of every search trial (both arms, every repeat), whichever
runs made them; retrainings and controls come on top and are not recorded. Wall time and date are those
of the process that finished the benchmark: a benchmark resumed after a stop, or grown (a raised
`tuner.max_trials`), also took the time of the runs before it, and a run that found every search and
retraining done (it only read them back and wrote the figures) took a few seconds.

| result | command | date | machine | search time (all trials) | wall time of the last run |
|---|---|---|---|---|---|
"""


def duration(seconds: float | None) -> str:
    if not seconds:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def pct(ci, signed: bool = False) -> str:
    if ci is None or ci.mean is None:
        return "-"
    f = "{:+.1f}" if signed else "{:.1f}"
    s = f.format(100 * ci.mean)
    if ci.low is not None and ci.high is not None:
        s += f" [{f.format(100 * ci.low)}, {f.format(100 * ci.high)}]"
    return s


def one_sided_p(r: BenchmarkResult) -> tuple[float | None, str]:
    """The row's p-value for gain > 0, and how it was made."""
    if r.protocol >= 2:
        return r.gain.p_value, "bootstrap"
    gains = [v for v in r.repeats[0].gain.values() if v is not None] if r.repeats else []
    if len(gains) < 2:
        return None, "-"
    t = stats.ttest_1samp(gains, 0.0, alternative="greater")
    return float(t.pvalue), "paired t over seeds"


def design(r: BenchmarkResult) -> str:
    seeds = sorted(set(r.seeds_per_repeat()))
    return f"{r.n_repeats} x {'/'.join(map(str, seeds))}"


def scope(folder: Path) -> str:
    path = folder / "scope.md"
    return " ".join(path.read_text(encoding="utf-8").split()) if path.exists() else "-"


def readme_text(root: Path = HERE) -> str:
    """benchmarks/README.md's text, from ROOT/*/results/benchmark.json, ROOT/*/scope.md and ROOT/perf."""
    results = []
    for path in sorted(root.glob("*/results/benchmark.json")):
        results.append((path.parent.parent.name, read_benchmark(path.parent)))
    ps = [one_sided_p(r) for _, r in results]
    adjusted = holm([p for p, _ in ps])
    rows, scopes, prov = [], [], []
    for (name, r), (p, how), adj in zip(results, ps, adjusted):
        link = f"[{name}]({name}/results/report.md)"
        effect = "-" if adj is None else ("**yes**" if adj < ALPHA else "not shown")
        p_txt = f"{p:.3g} ({how})" if p is not None else "-"
        pp = f"{r.gain.p_positive:.3f}" if r.gain.p_positive is not None else "-"
        rows.append(f"| {link} | {r.protocol} | {design(r)} | {pct(r.image_only.test_accuracy)} | {pct(r.order_aware.test_accuracy)} "
                    f"| **{pct(r.gain, signed=True)}** | {pp} | {p_txt} | {f'{adj:.3g}' if adj is not None else '-'} | {effect} |")
        v = r.view_classifier
        view = (f"{100 * v.accuracy:.1f} ({100 * v.chance:.1f})" if v is not None and v.accuracy is not None and v.chance is not None
                else "not measured (version 1)")
        c = r.controls
        unknown = c["noncompliance"].levels.get("unknown") if "noncompliance" in c else None
        controls = " / ".join(pct(x) if x is not None else "-" for x in (c.get("shuffled_order"), c.get("architecture_only"), unknown))
        obj = " / ".join(pct(r.arm(a).object_accuracy) for a in ("image_only", "order_aware"))
        ds = r.dataset
        old = " *Version-1 result: made before generator seeds were salted by dataset name.*" if r.protocol < 2 else ""
        scopes.append(f"| {name} | {scope(root / name)}{old} Data: {ds.name if ds else '?'} ({ds.images if ds else '?'} photos, "
                      f"{len(ds.classes) if ds else '?'} classes). | {view} | {controls} | {obj} |")
        m = r.machine
        searched = sum(t.seconds or 0.0 for rep in r.repeats for s in rep.searches.values() for t in s.trials)
        prov.append(f"| {name} | `{r.command or ''}` | {r.date or ''} | {m.get('cpus', '?')} CPUs, {m.get('processor', '')} "
                    f"| {duration(searched)} | {duration(r.seconds)} |")
    head = HEAD.replace("{alpha}", str(ALPHA)).replace("{version1}", VERSION1 if any(r.protocol < 2 for _, r in results) else "")
    text = head + "\n".join(rows) + "\n" + SCOPE_HEAD + "\n".join(scopes) + "\n"
    text += PROVENANCE_HEAD + "\n".join(prov) + "\n"
    missing = sorted(p.parent.name for p in root.glob("*/config.yaml") if not (p.parent / "results" / "benchmark.json").exists())
    if missing:
        text += ("\nNot run yet (a config without results): " + ", ".join(f"[{n}]({n}/config.yaml)" for n in missing)
                 + ". `bash benchmarks/regenerate.sh` makes them.\n")
    perf = root / "perf" / "results.json"
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
    return text


def main() -> None:
    (HERE / "README.md").write_text(readme_text())


if __name__ == "__main__":
    main()
