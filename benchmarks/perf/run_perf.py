"""autoorder vs plain Keras Tuner on the same trials: wall time, ratio, floor, memory, disk.

Both run the same trials (same hyperparameter values, seeds and epochs, frozen backbone, no
augmentation, no early stopping) on the same images:
- autoorder: `run_search`, which computes the frozen backbone once and trains heads on cached
  features;
- plain: a Keras Tuner HyperModel with the backbone inside the graph (frozen), the usual way;
- autoorder with `tuner.trainer: keras` (Keras' `Model.fit` instead of the lean loop), run beside
  it in the same round (each trainer first in every other round): what the lean loop changes.
Each measurement runs in its own process, alternating autoorder / plain, so machine noise hits
both alike. Separate autoorder runs of many head-only trials record resident memory after
every trial and the fixed cost per trial, for both trainers.

    python benchmarks/perf/run_perf.py                  # the committed configuration
    python benchmarks/perf/run_perf.py --quick          # a smoke run (small, minutes)

Writes benchmarks/perf/results.json and benchmarks/perf/README.md (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_config(args: argparse.Namespace, data_dir: Path, trials: int) -> dict:
    return {
        "data": {"manifest": str(data_dir / "manifest.csv"), "image_size": args.image_size, "split": {"val": 0.15, "test": 0.15, "seed": 0}},
        "space": {
            "backbones": args.backbone,
            "weights": None,
            "freeze": "all",
            "head_depth": [0, 1, 2],
            "head_width": [64, 128],
            "dropout": [0.0, 0.2],
            "order_encodings": ["none", "onehot", "film"],
            "learning_rate": [0.001, 0.0003],
            "batch_size": 32,
        },
        "tuner": {"algorithm": "random", "max_trials": trials, "epochs": args.epochs, "seed": 0, "patience": 0,
                  "trainer": args.trainer},
        "cache": {"memory_mb": 4096},
        "plugins": {"paths": [], "entry_points": False},
    }


# ----- children ------------------------------------------------------------------------------------
def child_autoorder(args: argparse.Namespace) -> dict:
    from autoorder.model.quiet import import_tensorflow

    import_tensorflow()
    from autoorder.core.config import from_dict
    from autoorder.data.dataset import load_dataset
    from autoorder.run.search import run_search

    cfg = from_dict(make_config(args, Path(args.data), args.trials), "perf", HERE)
    data = load_dataset(cfg)
    rss = []
    out = Path(args.run)
    t0 = time.perf_counter()
    res = run_search(cfg, out, data=data, on_trial=lambda trial: rss.append(rss_mb()))
    wall = time.perf_counter() - t0
    trial_dirs = sorted((out / "tuner").glob("trial_*"))
    timings = res.timings
    return {
        "wall_seconds": wall,
        "backbone_pass_seconds": timings.backbone_pass_seconds,
        "fit_seconds": timings.fit_seconds,
        "floor_seconds": timings.backbone_pass_seconds + timings.fit_seconds,
        "backbone_passes": res.cache.backbone_passes,
        "peak_rss_mb": peak_mb(),
        "rss_after_trial_mb": rss,
        "disk_per_trial_bytes": du_bytes(out / "tuner") / max(len(trial_dirs), 1) if trial_dirs else 0,
        "trials": [{"id": t.id, "status": t.status, "hyperparameters": t.hyperparameters, "val_accuracy": t.val_accuracy,
                    "seconds": t.seconds} for t in res.trials],
    }


def child_plain(args: argparse.Namespace) -> dict:
    """The usual Keras Tuner way: the frozen backbone inside every trial's graph."""
    from autoorder.model.quiet import import_tensorflow

    import_tensorflow()
    import keras
    import keras_tuner as kt
    import tensorflow as tf

    from autoorder.core.config import from_dict
    from autoorder.data.dataset import load_dataset
    from autoorder.model.assembly import HeadSpec, build_head, pool
    from autoorder.model.catalog import builtins

    cfg = from_dict(make_config(args, Path(args.data), args.trials), "perf", HERE)
    data = load_dataset(cfg)
    plans = json.loads(Path(args.plans).read_text())
    reg = builtins()
    backbone_plugin = reg.get_backbone(args.backbone)
    tr, va = data.indices("train"), data.indices("val")

    def ds(idx, shuffle):
        d = tf.data.Dataset.from_tensor_slices(({"image": data.images[idx], "order": data.orders[idx]}, data.y[idx]))
        if shuffle:
            d = d.shuffle(len(idx), seed=0, reshuffle_each_iteration=True)
        return d.batch(32).map(lambda a, b: ({"image": tf.cast(a["image"], tf.float32), "order": a["order"]}, b)).prefetch(2)

    class Plain(kt.HyperModel):
        def build(self, hp):
            values = plans[hp.Choice("plan", list(range(len(plans))))]
            keras.utils.set_random_seed(0)
            backbone = backbone_plugin.build(args.image_size, None)
            backbone.trainable = False
            image = keras.Input((args.image_size, args.image_size, 3), name="image")
            order = keras.Input((), dtype="int32", name="order")
            spec = HeadSpec(len(data.classes), tuple(data.order_vocabulary), values["head_depth"], values.get("head_width") or 128, values["dropout"])
            sub = kt.HyperParameters()
            for k, v in values.items():
                sub.values[k] = v
            enc = reg.get_encoding(values["order_encoding"])
            with sub.name_scope(values["order_encoding"]):
                head = build_head((backbone.output.shape[-1],), spec, enc, sub)
            probs = head({"features": pool(backbone(image, training=False)), "order": order})
            model = keras.Model({"image": image, "order": order}, probs)
            model.compile(keras.optimizers.Adam(values["learning_rate"]), "sparse_categorical_crossentropy", metrics=["accuracy"])
            return model

        def fit(self, hp, model, *a, **k):
            return model.fit(ds(tr, True), validation_data=ds(va, False), epochs=args.epochs, callbacks=k.get("callbacks"), verbose=0, shuffle=False)

    rss = []

    class Tuner(kt.GridSearch):
        def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
            # TensorFlow 2.21 no longer installs tensorboard, which the stock method imports even
            # with no TensorBoard callback (it has nothing else to do then, and there is none here).
            if any(type(c).__name__ == "TensorBoard" for c in callbacks):
                super()._configure_tensorboard_dir(callbacks, trial, execution)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            rss.append(rss_mb())

    out = Path(args.run)
    t0 = time.perf_counter()
    tuner = Tuner(Plain(), objective="val_accuracy", max_trials=len(plans), directory=str(out), project_name="tuner", overwrite=True, seed=0)
    tuner.search(verbose=0)
    wall = time.perf_counter() - t0
    trial_dirs = sorted((out / "tuner").glob("trial_*"))
    return {
        "wall_seconds": wall,
        "peak_rss_mb": peak_mb(),
        "rss_after_trial_mb": rss,
        "disk_per_trial_bytes": du_bytes(out / "tuner") / max(len(trial_dirs), 1),
        "trials": len(trial_dirs),
        "val_accuracy": [t.score for t in tuner.oracle.trials.values()],
    }


# ----- parent ----------------------------------------------------------------------------------------
def run_child(kind: str, args: argparse.Namespace, run: Path, extra: list[str]) -> dict:
    result = run.parent / f"{run.name}.json"
    cmd = [sys.executable, __file__, "--child", kind, "--run", str(run), "--result", str(result), *extra]
    subprocess.run(cmd, check=True)
    return json.loads(result.read_text())


def plans_of(trials: list[dict]) -> list[dict]:
    keys = ("head_depth", "head_width", "dropout", "order_encoding", "learning_rate")
    out = []
    for t in trials:
        hp = t["hyperparameters"]
        p = {k: hp.get(k) for k in keys}
        p.update({k: v for k, v in hp.items() if "/" in k and not k.startswith("tuner/") and not k.endswith("/freeze")})
        out.append(p)
    return out


FIXED_COST_EPOCHS = 4


def fixed_costs(one: list[dict], longer: list[dict], epochs: int = FIXED_COST_EPOCHS) -> dict:
    """Per-trial fixed cost (build, compile, trace, checkpoint, bookkeeping) from the same trials run for
    1 and for `epochs` epochs: t = fixed + epochs x per_epoch, so fixed = (epochs x t1 - tE) / (epochs - 1)."""
    import statistics

    # The first trial also makes the backbone pass: left out.
    pairs = [(a["seconds"], b["seconds"]) for a, b in zip(one[1:], longer[1:])
             if a["hyperparameters"] == b["hyperparameters"] and a["seconds"] and b["seconds"]]
    fixed = [(epochs * t1 - te) / (epochs - 1) for t1, te in pairs]
    per_epoch = [(te - t1) / (epochs - 1) for t1, te in pairs]
    return {
        "trials": len(pairs),
        "epochs": epochs,
        "fixed_seconds": fixed,
        "fixed_mean_seconds": statistics.fmean(fixed) if fixed else None,
        "fixed_median_seconds": statistics.median(fixed) if fixed else None,
        "per_epoch_median_seconds": statistics.median(per_epoch) if per_epoch else None,
        "trial_1_epoch_mean_seconds": statistics.fmean(t1 for t1, _ in pairs) if pairs else None,
    }


def versions() -> dict:
    from autoorder.core.environment import versions as v

    return v()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=667, help="objects (3 images each): 667 -> 2001 images")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--backbone", default="mobilenet_v2")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="alternations autoorder / plain")
    ap.add_argument("--memory-trials", type=int, default=30, help="head-only trials of the memory run")
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--child", choices=["autoorder", "plain"])
    ap.add_argument("--data")
    ap.add_argument("--run")
    ap.add_argument("--result")
    ap.add_argument("--plans")
    ap.add_argument("--trainer", default="lean", choices=["lean", "keras"], help="a child's tuner.trainer")
    ap.add_argument("--render", action="store_true", help="rewrite README.md from the results.json in --out, run nothing")
    args = ap.parse_args()
    if args.render:
        (args.out / "README.md").write_text(render(json.loads((args.out / "results.json").read_text())))
        return
    if args.child:
        fn = child_autoorder if args.child == "autoorder" else child_plain
        Path(args.result).write_text(json.dumps(fn(args)))
        return
    if args.quick:
        args.objects, args.trials, args.epochs, args.rounds, args.memory_trials = 144, 3, 2, 1, 8
        args.image_size = min(args.image_size, 64)

    from autoorder.data.generators import make_dataset

    work = Path(tempfile.mkdtemp(prefix="autoorder-perf-"))
    command = "python benchmarks/perf/run_perf.py " + " ".join(sys.argv[1:])
    try:
        data = work / "data"
        make_dataset("glyph-views", data, seed=0, objects=args.objects, image_size=args.image_size)
        common = ["--data", str(data), "--image-size", str(args.image_size), "--backbone", args.backbone, "--epochs", str(args.epochs)]
        rounds = []
        for r in range(args.rounds):
            # The two trainers side by side, each first in every other round.
            runs = {}
            for trainer in (("lean", "keras") if r % 2 == 0 else ("keras", "lean")):
                extra = ["--trainer", trainer] if trainer == "keras" else []
                runs[trainer] = run_child("autoorder", args, work / f"autoorder-{trainer}-{r}", [*common, "--trials", str(args.trials), *extra])
            a, k = runs["lean"], runs["keras"]
            plans = work / f"plans-{r}.json"
            plans.write_text(json.dumps(plans_of(a["trials"])))
            p = run_child("plain", args, work / f"plain-{r}", [*common, "--trials", str(args.trials), "--plans", str(plans)])
            rounds.append({"autoorder": a, "plain": p, "keras_trainer": k, "ratio": p["wall_seconds"] / a["wall_seconds"],
                           "floor_ratio": a["wall_seconds"] / a["floor_seconds"],
                           "lean_vs_keras_fit": k["fit_seconds"] / a["fit_seconds"], "lean_vs_keras_wall": k["wall_seconds"] / a["wall_seconds"]})
            print(f"round {r + 1}: autoorder {a['wall_seconds']:.1f}s, plain {p['wall_seconds']:.1f}s, ratio {rounds[-1]['ratio']:.1f}x, "
                  f"autoorder/floor {rounds[-1]['floor_ratio']:.2f}; trainer keras {k['wall_seconds']:.1f}s "
                  f"(head training {k['fit_seconds']:.1f}s vs {a['fit_seconds']:.1f}s)", flush=True)
        mem = run_child("autoorder", args, work / "memory", [*common, "--trials", str(args.memory_trials), "--epochs", "1"])
        rss = mem["rss_after_trial_mb"]
        k5 = min(4, len(rss) - 1)
        memory = {"trials": len(rss), "rss_after_trial_mb": rss, "after_trial_5_mb": rss[k5], "after_last_mb": rss[-1], "growth_mb": rss[-1] - rss[k5]}
        # The same trials (same seed, same hyperparameters) with FIXED_COST_EPOCHS epochs: a trial's time is
        # fixed + epochs x per-epoch, so fixed = (E * t1 - tE) / (E - 1), trial by trial.
        mem_k = run_child("autoorder", args, work / "memory-keras", [*common, "--trials", str(args.memory_trials), "--epochs", "1", "--trainer", "keras"])
        longer = run_child("autoorder", args, work / "fixed", [*common, "--trials", str(args.memory_trials), "--epochs", str(FIXED_COST_EPOCHS)])
        longer_k = run_child("autoorder", args, work / "fixed-keras", [*common, "--trials", str(args.memory_trials), "--epochs", str(FIXED_COST_EPOCHS), "--trainer", "keras"])
        fixed_cost = fixed_costs(mem["trials"], longer["trials"])
        fixed_cost_keras = fixed_costs(mem_k["trials"], longer_k["trials"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "command": command,
        "settings": {k: getattr(args, k) for k in ("objects", "image_size", "backbone", "trials", "epochs", "rounds", "memory_trials")},
        "images": args.objects * 3,
        "rounds": rounds,
        "speedup": min(r["ratio"] for r in rounds),
        "floor_ratio": max(r["floor_ratio"] for r in rounds),
        "memory": memory,
        "fixed_cost": fixed_cost,
        "fixed_cost_keras_trainer": fixed_cost_keras,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "README.md").write_text(render(result))
    print(f"speedup {result['speedup']:.1f}x (worst round), autoorder/floor {result['floor_ratio']:.2f}, memory growth {memory['growth_mb']:+.0f} MB")


def render(r: dict) -> str:
    s = r["settings"]
    lines = [
        "# Speed: autoorder vs plain Keras Tuner",
        "",
        f"Same {s['trials']} trials x {s['epochs']} epochs ({s['backbone']} frozen, {s['image_size']} px, "
        f"{r['images']} images, weights=None: timing does not depend on the weights' values), "
        "run alternately in separate processes. Regenerate with:",
        "",
        f"```\n{r['command']}\n```",
        "",
        "| round | autoorder (s) | plain Keras Tuner (s) | speedup | backbone pass (s) | head training (s) | autoorder / floor | peak RSS autoorder (MB) | peak RSS plain (MB) | disk per trial autoorder (KB) | disk per trial plain (KB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, rd in enumerate(r["rounds"], 1):
        a, p = rd["autoorder"], rd["plain"]
        lines.append(
            f"| {i} | {a['wall_seconds']:.1f} | {p['wall_seconds']:.1f} | {rd['ratio']:.1f}x | {a['backbone_pass_seconds']:.1f} | "
            f"{a['fit_seconds']:.1f} | {rd['floor_ratio']:.2f} | {a['peak_rss_mb']:.0f} | {p['peak_rss_mb']:.0f} | "
            f"{a['disk_per_trial_bytes'] / 1024:.0f} | {p['disk_per_trial_bytes'] / 1024:.0f} |"
        )
    m = r["memory"]
    if all("keras_trainer" in rd for rd in r["rounds"]):
        lines += [
            "",
            "The same autoorder search with `tuner.trainer: keras` (Keras' `Model.fit`), run beside the lean loop's in each round (each first in every other round):",
            "",
            "| round | head training, lean loop (s) | head training, Model.fit (s) | Model.fit / lean | whole search, lean (s) | whole search, Model.fit (s) |",
            "|---|---|---|---|---|---|",
        ]
        for i, rd in enumerate(r["rounds"], 1):
            a, k = rd["autoorder"], rd["keras_trainer"]
            lines.append(f"| {i} | {a['fit_seconds']:.1f} | {k['fit_seconds']:.1f} | {rd['lean_vs_keras_fit']:.2f}x | "
                         f"{a['wall_seconds']:.1f} | {k['wall_seconds']:.1f} |")
    lines += [
        "",
        f"- Speedup (worst round): **{r['speedup']:.1f}x**; goal >= 20x, aim 30x.",
        f"- autoorder against its floor (one backbone pass + the head training it had to do), worst round: **{r['floor_ratio']:.2f}x**; goal <= 1.3x.",
        f"- Memory over {m['trials']} head-only trials: {m['after_trial_5_mb']:.0f} MB after trial 5, {m['after_last_mb']:.0f} MB after trial {m['trials']} "
        f"(**{m['growth_mb']:+.0f} MB**; goal within 100 MB). Resident memory after every trial, MB: "
        + ", ".join(f"{x:.0f}" for x in m["rss_after_trial_mb"])
        + " (the saw-tooth is the full garbage collection autoorder runs every 4th trial).",
        f"- Backbone passes per autoorder search: {', '.join(str(rd['autoorder']['backbone_passes']) for rd in r['rounds'])}.",
    ]
    f = r.get("fixed_cost")
    if f and f["trials"]:
        lines.append(
            f"- Fixed cost of a head-only trial (build, compile, trace, checkpoint, bookkeeping), from the same {f['trials']} trials "
            "(the first, which also makes the backbone pass, left out) "
            f"run for 1 and for {f['epochs']} epochs (fixed = ({f['epochs']} x t1 - t{f['epochs']}) / {f['epochs'] - 1}): "
            f"**{f['fixed_median_seconds']:.2f} s** median, {f['fixed_mean_seconds']:.2f} s mean; goal <= 0.3 s. An epoch of a head "
            f"(median): {f['per_epoch_median_seconds']:.2f} s; a 1-epoch trial: {f['trial_1_epoch_mean_seconds']:.2f} s on average."
        )
    fk = r.get("fixed_cost_keras_trainer")
    if fk and fk["trials"]:
        lines.append(
            f"- The same with `tuner.trainer: keras` (Model.fit), run beside it: fixed cost **{fk['fixed_median_seconds']:.2f} s** median, "
            f"{fk['fixed_mean_seconds']:.2f} s mean; an epoch {fk['per_epoch_median_seconds']:.2f} s; a 1-epoch trial "
            f"{fk['trial_1_epoch_mean_seconds']:.2f} s on average."
        )
    lines += [
        "",
        f"Machine: {r['machine']['platform']}, {r['machine']['cpus']} CPUs. Date: {r['date']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
