"""How cost and memory grow with the number of photos: decoding, the backbone pass, each trial.

For each N (photos) and image size, generated glyph-views photos (N / 3 objects, 3 photos each)
go through one search in a fresh process (mobilenet_v2 frozen, weights=None: timing does not
depend on the weights' values; head-only trials), and the process records:
- decode: `load_dataset` with the search's cache folder (content hashes + parallel decode; past
  `IN_MEMORY_BYTES` into a memory-mapped .npy file), seconds per photo;
- the backbone pass (`results.json` timings), seconds per photo;
- per trial: the search's head training (`fit_seconds`) / trials, and per photo and epoch;
- peak resident memory (VmHWM, memory-mapped file pages included) and peak anonymous memory
  (RssAnon sampled every 50 ms: what cannot be given back to the page cache), overall and in
  each phase (decode, backbone pass, trials, export of the best model with its test predictions);
- disk used by the cache folder (decoded pixels and cached features).

    python benchmarks/scale/run_scale.py                        # N = 2000, 20000 at 96 px
    python benchmarks/scale/run_scale.py --n 2000 20000 100000 --sizes 96 224

Writes results.json and README.md into --out (default: this folder).
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
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def make_config(data: Path, cache: Path, args: argparse.Namespace, size: int) -> dict:
    return {
        "data": {"manifest": str(data / "manifest.csv"), "image_size": size, "split": {"val": 0.15, "test": 0.15, "seed": 0}},
        "space": {
            "backbones": args.backbone,
            "weights": None,
            "freeze": "all",
            "head_depth": [0, 1],
            "head_width": 64,
            "dropout": 0.0,
            "order_encodings": ["none", "onehot"],
            "learning_rate": [0.001, 0.0003],
            "batch_size": 64,
        },
        "tuner": {"algorithm": "random", "max_trials": args.trials, "epochs": args.epochs, "seed": 0, "patience": 0},
        "cache": {"memory_mb": args.memory_mb, "dir": str(cache)},
        "plugins": {"paths": [], "entry_points": False},
    }


PHASES = ("decode", "pass", "trials", "export")


def phase_of(message: str, current: str) -> str:
    """The phase of a search that a line of its log starts (the backbone pass, the trials, the export)."""
    if message.startswith("caching "):
        return "pass"
    if message.startswith(("cached ", "trial ")):
        return "trials"
    if message.startswith("exporting "):
        return "export"
    return current


def child(args: argparse.Namespace) -> dict:
    peak_anon = [0]
    phase = ["decode"]
    peaks = dict.fromkeys(PHASES, 0)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            anon = status_kb("RssAnon")
            peak_anon[0] = max(peak_anon[0], anon)
            peaks[phase[0]] = max(peaks[phase[0]], anon)
            stop.wait(0.05)

    threading.Thread(target=sample, daemon=True).start()
    from autoorder.model.quiet import import_tensorflow

    import_tensorflow()
    from autoorder.core.config import from_dict
    from autoorder.data.dataset import load_dataset
    from autoorder.run.search import run_search

    data, cache, run = Path(args.data), Path(args.cache), Path(args.run)
    cfg = from_dict(make_config(data, cache, args, args.size), "scale", HERE)
    t0 = time.perf_counter()
    dataset = load_dataset(cfg, cache_dir=cache)
    decode = time.perf_counter() - t0
    n = len(dataset.rows)
    t0 = time.perf_counter()
    phase[0] = "pass"  # until the search says otherwise (a cache hit goes straight to the trials)

    def log(message: str) -> None:
        phase[0] = phase_of(message, phase[0])

    res = run_search(cfg, run, data=dataset, log=log)
    search = time.perf_counter() - t0
    stop.set()
    t = res.timings
    train = int((dataset.split == "train").sum())
    return {
        "photos": n,
        "image_size": args.size,
        "pixels_in_memory": bool(dataset.pixels.in_memory),
        "decode_seconds": decode,
        "backbone_pass_seconds": t.backbone_pass_seconds,
        "backbone_passes": res.cache.backbone_passes,
        "fit_seconds": t.fit_seconds,
        "trials": len(res.trials),
        "search_seconds": search,
        "decode_ms_per_photo": 1000 * decode / n,
        "pass_ms_per_photo": 1000 * t.backbone_pass_seconds / n,
        "trial_seconds": t.fit_seconds / max(len(res.trials), 1),
        "trial_us_per_train_photo_epoch": 1e6 * t.fit_seconds / max(len(res.trials), 1) / args.epochs / train,
        "peak_rss_mb": status_kb("VmHWM") / 1024,
        "peak_anon_mb": peak_anon[0] / 1024,
        "peak_anon_mb_by_phase": {k: v / 1024 for k, v in peaks.items()},
        "cache_disk_mb": du_bytes(cache) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 20000], help="numbers of photos")
    ap.add_argument("--sizes", type=int, nargs="+", default=[96], help="image sizes (px)")
    ap.add_argument("--backbone", default="mobilenet_v2")
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--memory-mb", type=int, default=256, help="cache.memory_mb: features beyond it stream from disk")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--size", type=int)
    ap.add_argument("--data")
    ap.add_argument("--cache")
    ap.add_argument("--run")
    ap.add_argument("--result")
    args = ap.parse_args()
    if args.child:
        Path(args.result).write_text(json.dumps(child(args)))
        return
    from autoorder.data.generators import make_dataset

    command = "python benchmarks/scale/run_scale.py " + " ".join(sys.argv[1:])
    rows = []
    work = Path(tempfile.mkdtemp(prefix="autoorder-scale-"))
    try:
        for size in args.sizes:
            for n in args.n:
                data = work / f"data-{n}-{size}"
                t0 = time.perf_counter()
                make_dataset("glyph-views", data, seed=0, objects=max(1, n // 3), image_size=size)
                made = time.perf_counter() - t0
                result = work / f"result-{n}-{size}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--size", str(size), "--data", str(data),
                       "--cache", str(work / f"cache-{n}-{size}"), "--run", str(work / f"run-{n}-{size}"), "--result", str(result),
                       "--backbone", args.backbone, "--trials", str(args.trials), "--epochs", str(args.epochs),
                       "--memory-mb", str(args.memory_mb)]
                env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
                subprocess.run(cmd, check=True, env=env)
                row = {**json.loads(result.read_text()), "generate_seconds": made}
                rows.append(row)
                print(json.dumps(row), flush=True)
                write(args, command, rows, done=False)  # a long run stopped later keeps the rows it finished
                shutil.rmtree(data, ignore_errors=True)
                shutil.rmtree(work / f"cache-{n}-{size}", ignore_errors=True)
                shutil.rmtree(work / f"run-{n}-{size}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(args, command, rows, done=True)


def write(args: argparse.Namespace, command: str, rows: list[dict], done: bool) -> None:
    import autoorder

    report = {
        "command": command,
        "settings": {k: getattr(args, k) for k in ("n", "sizes", "backbone", "trials", "epochs", "memory_mb")},
        "rows": rows,
        "complete": done,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "autoorder": autoorder.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "README.md").write_text(render(report))


def render(r: dict) -> str:
    s = r["settings"]
    lines = [
        "# Scale: cost per photo and memory against the number of photos",
        "",
        f"One search per row, each in a fresh process: {s['backbone']} frozen (weights=None), {s['trials']} head-only trials x "
        f"{s['epochs']} epochs, `cache.memory_mb: {s['memory_mb']}`, generated glyph-views photos. Regenerate with:",
        "",
        "```",
        r["command"],
        "```",
        "",
        "| photos | px | pixels | generate (ms/photo) | decode (ms/photo) | backbone pass (ms/photo) | passes | per trial (s) | per trial (us/train photo/epoch) "
        "| peak RSS (MB) | peak anonymous (MB) | cache on disk (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["rows"]:
        lines.append(
            f"| {x['photos']:,} | {x['image_size']} | {'memory' if x['pixels_in_memory'] else 'memory-mapped'} | "
            f"{1000 * x['generate_seconds'] / x['photos']:.2f} | {x['decode_ms_per_photo']:.2f} | {x['pass_ms_per_photo']:.2f} | {x['backbone_passes']} | {x['trial_seconds']:.2f} | "
            f"{x['trial_us_per_train_photo_epoch']:.1f} | {x['peak_rss_mb']:.0f} | {x['peak_anon_mb']:.0f} | {x['cache_disk_mb']:.0f} |"
        )
    phased = [x for x in r["rows"] if "peak_anon_mb_by_phase" in x]
    if phased:
        lines += ["", "Peak anonymous memory (MB) in each phase of the search:", "",
                  "| photos | px | " + " | ".join(PHASES) + " |", "|---|---|" + "---|" * len(PHASES)]
        for x in phased:
            lines.append(f"| {x['photos']:,} | {x['image_size']} | " + " | ".join(f"{x['peak_anon_mb_by_phase'][k]:.0f}" for k in PHASES) + " |")
    if not r.get("complete", True):
        lines += ["", f"**Incomplete**: the run stopped after {len(r['rows'])} rows of {len(s['n']) * len(s['sizes'])}."]
    lines += [
        "",
        "Generate is making the photos (not part of a search). Decode includes hashing every file (the content key). Peak RSS counts memory-mapped pages of the decoded pixels, "
        "which the kernel gives back under pressure; peak anonymous memory does not.",
        "",
        f"Machine: {r['machine']['platform']}, {r['machine']['cpus']} CPUs. Date: {r['date']}. autoorder {r['autoorder']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
