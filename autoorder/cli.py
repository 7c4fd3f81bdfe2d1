"""The command line. Thin: each command parses, calls one library function, echoes.

Only this module talks to the terminal. `AutoOrderError` becomes one clean message and exit 1
(usage errors exit 2, click's own); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from autoorder import __version__
from autoorder.errors import AutoOrderError


def _echo_err(msg: str) -> None:
    click.echo(msg, err=True)


def handle_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except AutoOrderError as e:
            if debug:
                raise
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            _echo_err("Interrupted. Run the same command again to resume; finished trials are kept.")
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autoorder")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """Search for the best photo classifier that uses the upload order (front, back, other)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tensorflow() -> None:
    from autoorder.quiet import import_tensorflow, silence_native_stderr

    import_tensorflow()
    if not click.get_current_context().find_root().params.get("debug", False):
        silence_native_stderr()


# ----- datasets ----------------------------------------------------------------------------
@main.group()
def datasets() -> None:
    """Generated benchmark datasets (real material shipped with the dependencies)."""


@datasets.command("list")
@handle_errors
def datasets_list() -> None:
    """List the dataset generators."""
    from autoorder.datasets import list_datasets

    for d in list_datasets():
        click.echo(f"{d['name']:<14} {d['description']}")
        click.echo(f"{'':<14} provenance: {d['provenance']}")


@datasets.command("make")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="New folder to write.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--objects", default=None, type=int, help="Number of objects (3 photos each).")
@click.option("--image-size", default=None, type=int, help="Side of the square images, in pixels.")
@click.option("--classes", default=None, help="Subset of classes, e.g. 'bdpq69'.")
@handle_errors
def datasets_make(name: str, out: Path, seed: int, objects: int | None, image_size: int | None, classes: str | None) -> None:
    """Generate dataset NAME into a new folder OUT."""
    from autoorder.datasets import make_dataset

    manifest = make_dataset(name, out, seed=seed, objects=objects, image_size=image_size, classes=classes)
    click.echo(f"wrote {manifest}")


# ----- validate / search / predict ---------------------------------------------------------
@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@handle_errors
def validate(config: Path, overrides: tuple[str, ...]) -> None:
    """Check CONFIG, its plugins and every manifest row, without training."""
    _tensorflow()
    from autoorder.validate import validate_config

    summary = validate_config(config, overrides, log=_echo_err)
    click.echo(
        f"OK: {summary['images']} images, {summary['objects']} objects, {len(summary['classes'])} classes; "
        f"split (objects) train {summary['objects_per_split']['train']} / val {summary['objects_per_split']['val']} "
        f"/ test {summary['objects_per_split']['test']}"
    )
    if summary["converted_images"]:
        click.echo(f"converted to RGB: {summary['converted_images']}")
    if summary["skipped_rows"]:
        click.echo(f"skipped {len(summary['skipped_rows'])} bad row(s) (data.on_bad_image: skip)")
    for w in summary.get("warnings") or []:
        click.echo(f"warning: {w}")


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Run folder [runs/<config name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. tuner.max_trials=20.")
@click.option("--overwrite", is_flag=True, help="Start over instead of resuming an existing run folder.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Distributed: a chief and N worker processes on this host.")
@click.option("--gpus", default=None, metavar="0,1,...", help="With --workers: one GPU per worker (CUDA_VISIBLE_DEVICES).")
@click.option("--role", type=click.Choice(["chief", "worker"]), default=None, help="Distributed over hosts: what this process is.")
@click.option("--oracle", default=None, metavar="HOST:PORT", help="Chief: where to listen (PORT alone: 127.0.0.1). Worker: the chief's address.")
@click.option("--worker-id", default=None, metavar="ID", help="Worker: a name unique in the search, e.g. hostb-gpu0.")
@handle_errors
def search(
    config: Path,
    out: Path | None,
    overrides: tuple[str, ...],
    overwrite: bool,
    workers: int | None,
    gpus: str | None,
    role: str | None,
    oracle: str | None,
    worker_id: str | None,
) -> None:
    """Run (or resume) the search described by CONFIG.

    With --workers N (and --gpus), a chief and N workers share the trials on this host. Across
    hosts, start one `--role chief` and any number of `--role worker` processes.
    """
    from autoorder import distributed as D

    out = out or Path("runs") / config.stem
    try:
        gpu_list = D.parse_gpus(gpus)
        if gpu_list is not None and workers is None:
            workers = len(gpu_list)
        if workers is not None and (role or oracle or worker_id):
            raise ValueError("--workers launches a chief and its workers here; it does not go with --role, --oracle or --worker-id.")
        dist_role = None if workers is not None else D.role_from_options(role, oracle, worker_id)
        if dist_role is not None and dist_role.is_worker and overwrite:
            raise ValueError("--overwrite is for the chief (or a single-process search), not for a worker.")
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if workers is not None:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            code = D.launch(
                config, out, workers=workers, gpus=gpu_list, overrides=overrides, overwrite=overwrite,
                debug=debug, log=_echo_err, echo=click.echo,
            )
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        if code:
            sys.exit(code)
        return
    _tensorflow()
    from autoorder.config import load_config
    from autoorder.search import run_search

    cfg = load_config(config, overrides)
    results = run_search(cfg, out, overwrite=overwrite, log=_echo_err, role=dist_role)
    if dist_role is not None and dist_role.is_worker:
        click.echo(f"worker {results['worker']}: {results['trials']} trial(s) run; the chief at {results['chief']} has the results")
        return
    click.echo(format_ranking(results))
    click.echo(f"results: {out / 'results.json'}\nbest model: {out / 'best_model.keras'}")


def format_ranking(results: dict, top: int = 10) -> str:
    from autoorder.results import format_hps, ranked

    rows = ranked(results["trials"])
    lines = [f"{'rank':>4}  {'trial':>5}  {'val_acc':>7}  {'seconds':>7}  hyperparameters"]
    for i, t in enumerate(rows[:top], start=1):
        lines.append(f"{i:>4}  {t['id']:>5}  {t['val_accuracy']:7.4f}  {t['seconds'] or 0:7.1f}  {format_hps(t['hyperparameters'])}")
    failed = [t for t in results["trials"] if t not in rows]
    if failed:
        lines.append(f"{len(failed)} trial(s) failed or had no finite score (see trials.csv)")
    best = results.get("best")
    if best:
        lines.append(f"best: trial {best['trial']}  val_accuracy {best['val_accuracy']:.4f}  test_accuracy {best['test_accuracy']:.4f} ({best['test_images']} test images)")
    base = (results.get("baseline") or {}).get("majority_class")
    if base and base.get("test_accuracy") is not None:
        lines.append(f"baseline: always {base['label']!r} (most frequent training class)  val_accuracy {base['val_accuracy']:.4f}  test_accuracy {base['test_accuracy']:.4f}")
    lines += [f"warning: {w}" for w in results.get("warnings") or []]
    return "\n".join(lines)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV file to write.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@handle_errors
def predict(run_dir: Path, manifest: Path, out: Path, overwrite: bool) -> None:
    """Predict every image of MANIFEST with the best model of RUN_DIR."""
    _tensorflow()
    from autoorder.predict import predict_manifest

    n = predict_manifest(run_dir, manifest, out, overwrite=overwrite, log=_echo_err)
    click.echo(f"wrote {n} predictions to {out}")


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Benchmark folder [benchmarks/<config name>].")
@click.option("--seeds", default=3, show_default=True, type=int, help="Retrainings of each best configuration.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--overwrite", is_flag=True, help="Start over instead of resuming.")
@handle_errors
def benchmark(config: Path, out: Path | None, seeds: int, overrides: tuple[str, ...], overwrite: bool) -> None:
    """Measure the gain of the best order-aware model over the best image-only one."""
    _tensorflow()
    from autoorder.benchmark import run_benchmark
    from autoorder.config import load_config

    cfg = load_config(config, overrides)
    out = out or Path("benchmarks") / config.stem
    command = "autoorder benchmark " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    result = run_benchmark(cfg, out, seeds=seeds, overwrite=overwrite, log=_echo_err, command=command)
    click.echo(format_benchmark(result))
    click.echo(f"benchmark: {out / 'benchmark.json'}")


def _pct(ci: dict, clip: bool = True) -> str:
    """Mean [interval] in percent; accuracy intervals are clipped to [0, 100] (gains are not)."""
    lo, hi = ci.get("low"), ci.get("high")
    txt = f"{100 * ci['mean']:.1f}"
    if lo is not None:
        if clip:
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        txt += f" [{100 * lo:.1f}, {100 * hi:.1f}]"
    return txt


def format_benchmark(r: dict) -> str:
    g = r["gain"]
    lines = [
        f"test accuracy, % (mean [95% CI] over seeds {r['seeds']}):",
        f"  image-only   {_pct(r['image_only']['test_accuracy'])}",
        f"  order-aware  {_pct(r['order_aware']['test_accuracy'])}",
        f"  gain         {_pct(g, clip=False)} points; bootstrap over test objects [{100 * g['bootstrap']['low']:.1f}, {100 * g['bootstrap']['high']:.1f}]"
        + ("" if g.get("excludes_zero") else "  (interval includes zero)"),
        f"  per object   image-only {_pct(r['image_only']['object_accuracy'])}, order-aware {_pct(r['order_aware']['object_accuracy'])}",
        "controls:",
        f"  shuffled order at test  {_pct(r['controls']['shuffled_order'])}",
        f"  order only              {100 * r['controls']['order_only']['accuracy']:.1f}",
        f"  majority class          {100 * r['controls']['majority_class']['accuracy']:.1f}",
    ]
    return "\n".join(lines)


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("autoorder-demo"), show_default=True)
@handle_errors
def demo(out: Path) -> None:
    """Generate a small glyph-views set and benchmark order-aware vs image-only search on it, offline."""
    _tensorflow()
    from autoorder.demo import run_demo

    result = run_demo(out, log=_echo_err)
    bench = out / "benchmark"
    click.echo(format_benchmark(result))
    best = result["searches"]["order_aware"]["best"]
    click.echo(f"best order-aware configuration: {format_hps_short(best['hyperparameters'])}")
    click.echo(f"report: {bench / 'report.md'}\nbest models: {bench / 'order_aware' / 'best_model.keras'}, {bench / 'image_only' / 'best_model.keras'}")


def format_hps_short(hps: dict) -> str:
    from autoorder.results import format_hps

    return format_hps({k: v for k, v in hps.items() if v is not None})


from autoorder.cli_plugins import plugins
main.add_command(plugins)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@handle_errors
def report(run_dir: Path) -> None:
    """Render report.md and plots/ for RUN_DIR."""
    from autoorder.report import render_report

    path = render_report(run_dir)
    click.echo(f"wrote {path} (plots in {path.parent / 'plots'})")


if __name__ == "__main__":
    main()
