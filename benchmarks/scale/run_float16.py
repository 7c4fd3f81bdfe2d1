"""Does storing cached features as float16 (`cache.dtype: float16`) change accuracy?

The same head-only searches (frozen backbone, features from the cache) run twice, once with
float32 features and once with float16, with the same seeds: same trials, same hyperparameters,
same initial weights and batch order. What differs is the rounding of each feature to float16
(a relative error up to 2^-11). The script reports, per trial, the paired difference in best
validation accuracy, and per search the paired difference in the best model's test accuracy,
next to the spread of the float32 figures over search seeds (the noise a difference has to
exceed to matter), and the size of the cached features in each dtype.

The backbone is the one autoorder pretrains on glyph-caps for the *-pretrained benchmarks (a
keras_file backbone, frozen): features that carry the classes, so accuracy is far from chance.

    bash benchmarks/regenerate.sh glyph-views-pretrained   # makes the data and the backbone, if not there
    python benchmarks/scale/run_float16.py                  # 5 search seeds, both dtypes (minutes)

Writes float16.json and float16.md into --out (default: this folder).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
DTYPES = ("float32", "float16")


def config(args: argparse.Namespace, seed: int, dtype: str) -> dict:
    return {
        "data": {"manifest": str(args.manifest), "image_size": 32, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
        "space": {
            "backbones": "keras_file",
            "backbone_options": {"keras_file": {"path": str(args.backbone)}},
            "freeze": "all",
            "head_depth": [0, 1],
            "head_width": 64,
            "dropout": 0.2,
            "order_encodings": ["none", "onehot", "embedding", "film", "gate"],
            "learning_rate": [0.003, 0.001],
        },
        "tuner": {"algorithm": "random", "max_trials": args.trials, "epochs": args.epochs, "seed": seed, "patience": 10},
        "cache": {"dtype": dtype, "memory_mb": 0},  # on disk, so its size can be measured
        "plugins": {"paths": [], "entry_points": False},
    }


def feature_bytes(run: Path) -> int:
    return sum(p.stat().st_size for p in (run / "cache").rglob("*") if p.is_file()) if (run / "cache").exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=BENCH / "data" / "glyph-views" / "manifest.csv")
    ap.add_argument("--backbone", type=Path, default=BENCH / "pretrain" / "run" / "best_model.keras")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    for what, path in (("--manifest", args.manifest), ("--backbone", args.backbone)):
        if not path.is_file():
            print(f"Error: {what} {str(path)!r} does not exist. Make it with `bash benchmarks/regenerate.sh "
                  "glyph-views-pretrained` (or pass another file).", file=sys.stderr)
            return 2

    from autoorder.model.quiet import import_tensorflow

    import_tensorflow()
    import numpy as np
    from scipy import stats

    from autoorder.core.config import from_dict
    from autoorder.data.dataset import load_dataset
    from autoorder.run.search import run_search

    t0 = time.time()
    runs: dict[str, dict[int, dict]] = {d: {} for d in DTYPES}
    data = None
    with tempfile.TemporaryDirectory(prefix="autoorder-float16-") as tmp:
        for seed in args.seeds:
            for dtype in DTYPES:
                cfg = from_dict(config(args, seed, dtype), "float16", Path(tmp))
                data = data or load_dataset(cfg)
                run = Path(tmp) / f"{dtype}-{seed}"
                res = run_search(cfg, run, data=data)
                runs[dtype][seed] = {
                    "trials": {t.id: t.val_accuracy for t in res.trials},
                    "hyperparameters": {t.id: t.hyperparameters for t in res.trials},
                    "best_trial": res.best.trial if res.best else None,
                    "test_accuracy": res.best.test_accuracy if res.best else None,
                    "feature_bytes": feature_bytes(run),
                }
                print(f"seed {seed} {dtype}: best trial {runs[dtype][seed]['best_trial']}, test accuracy "
                      f"{runs[dtype][seed]['test_accuracy']:.4f}", flush=True)
                shutil.rmtree(run, ignore_errors=True)

    trial_diffs, same_pick, test_diffs = [], 0, []
    for seed in args.seeds:
        a, b = runs["float32"][seed], runs["float16"][seed]
        for tid, v in a["trials"].items():
            if v is not None and b["trials"].get(tid) is not None:
                assert a["hyperparameters"][tid] == b["hyperparameters"][tid], "the two searches must run the same trials"
                trial_diffs.append(b["trials"][tid] - v)
        same_pick += a["best_trial"] == b["best_trial"]
        test_diffs.append(b["test_accuracy"] - a["test_accuracy"])
    test32 = [runs["float32"][s]["test_accuracy"] for s in args.seeds]
    spread = statistics.stdev(test32) if len(test32) > 1 else float("nan")
    n = len(test_diffs)
    mean = float(np.mean(test_diffs))
    half = float(stats.t.ppf(0.975, n - 1) * np.std(test_diffs, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    bytes32 = [runs["float32"][s]["feature_bytes"] for s in args.seeds]
    bytes16 = [runs["float16"][s]["feature_bytes"] for s in args.seeds]
    summary = {
        "trials_compared": len(trial_diffs),
        "trials_identical": int(sum(d == 0 for d in trial_diffs)),
        "trial_val_diff_mean_abs": float(np.mean(np.abs(trial_diffs))) if trial_diffs else None,
        "trial_val_diff_max_abs": float(np.max(np.abs(trial_diffs))) if trial_diffs else None,
        "searches": n,
        "same_best_trial": same_pick,
        "test_diff_mean": mean,
        "test_diff_ci95": [mean - half, mean + half],
        "test_float32_sd_over_seeds": spread,
        "feature_bytes_float32": int(np.mean(bytes32)),
        "feature_bytes_float16": int(np.mean(bytes16)),
    }
    from autoorder.core.environment import machine, versions

    out = {
        "command": "python benchmarks/scale/run_float16.py" + "".join(f" {a}" for a in sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.time() - t0),
        "machine": machine(),
        "versions": versions(),
        "seeds": args.seeds, "trials": args.trials, "epochs": args.epochs,
        "summary": summary,
        "runs": {d: {str(s): r for s, r in v.items()} for d, v in runs.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "float16.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    s = summary
    md = [
        "# float16 feature storage: accuracy against float32",
        "",
        (f"Command: `{out['command']}` ({out['date']}, {out['seconds'] // 60} min). Head-only searches on the "
        f"glyph-views photos with the glyph-caps-pretrained backbone frozen: {n} search seeds x {args.trials} trials x "
        f"up to {args.epochs} epochs (early stopping after 10), each run with float32 and with float16 cached features, "
        "same seeds (so same trials, initial weights and batch order)."),
        "",
        "| figure | value |",
        "|---|---|",
        f"| trials compared (same hyperparameters and seed) | {s['trials_compared']} |",
        f"| trials with exactly the same best val accuracy | {s['trials_identical']} |",
        f"| mean / max absolute difference in best val accuracy, points | {100 * s['trial_val_diff_mean_abs']:.2f} / {100 * s['trial_val_diff_max_abs']:.2f} |",
        f"| searches that picked the same best trial | {s['same_best_trial']} of {n} |",
        f"| best model's test accuracy, float16 - float32, points [95% t interval over seeds] | {100 * mean:+.2f} [{100 * s['test_diff_ci95'][0]:+.2f}, {100 * s['test_diff_ci95'][1]:+.2f}] |",
        f"| the same test accuracy's sd over search seeds (float32), points | {100 * spread:.2f} |",
        f"| cached features on disk per search, float32 / float16 | {s['feature_bytes_float32'] / 1e6:.2f} MB / {s['feature_bytes_float16'] / 1e6:.2f} MB |",
        "",
        ("Scope: one small dataset (1,440 photos of 32 px), one backbone, head-only trials; a difference smaller "
        "than the seed-to-seed spread is noise at this size, not a proof of none on other data."),
        "",
    ]
    (args.out / "float16.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
