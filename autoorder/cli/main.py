"""The `autoorder` command. Thin: each command parses, calls one library function, echoes.

Only the cli package talks to the terminal. `AutoOrderError` becomes one clean message and exit 1
(usage errors exit 2, click's own); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from autoorder.cli.common import checked_config, debug_mode, echo_err, handle_errors, start_tensorflow
from autoorder.cli.format import format_benchmark, format_hps_short, format_ranking
from autoorder.cli.plugins import plugins
from autoorder.cli.use import evaluate, export, predict
from autoorder.core.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autoorder")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """Search for the best photo classifier that uses the upload order (front, back, other)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


main.add_command(plugins)
main.add_command(predict)
main.add_command(evaluate)
main.add_command(export)


# ----- datasets ----------------------------------------------------------------------------
@main.group()
def datasets() -> None:
    """Generated benchmark datasets (real material shipped with the dependencies)."""


@datasets.command("list")
@handle_errors
def datasets_list() -> None:
    """List the dataset generators."""
    from autoorder.data.generators import list_datasets  # lazy: --help stays fast

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
    from autoorder.data.generators import make_dataset  # lazy: --help stays fast

    manifest = make_dataset(name, out, seed=seed, objects=objects, image_size=image_size, classes=classes)
    click.echo(f"wrote {manifest}")


# ----- validate / search ---------------------------------------------------------
@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@handle_errors
def validate(config: Path, overrides: tuple[str, ...]) -> None:
    """Check CONFIG, its plugins and every manifest row, without training."""
    cfg = checked_config(config, overrides)
    start_tensorflow()
    from autoorder.run.validate import validate_config  # lazy: imports TensorFlow

    summary, warnings = validate_config(cfg, log=echo_err)
    split = summary.objects_per_split
    click.echo(
        f"OK: {summary.images} images, {summary.objects} objects, {len(summary.classes)} classes; "
        f"split (objects) train {split['train']} / val {split['val']} / test {split['test']}"
    )
    if summary.converted_images:
        click.echo(f"converted to RGB: {summary.converted_images}")
    if summary.skipped_rows:
        click.echo(f"skipped {len(summary.skipped_rows)} bad row(s) (data.on_bad_image: skip)")
    for w in warnings:
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
@click.option("-v", "--verbose", "verbose", flag_value=True, default=None, help="A line per epoch of every trial [on when stderr is a terminal].")
@click.option("-q", "--quiet-epochs", "verbose", flag_value=False, help="No per-epoch lines, even on a terminal.")
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
    verbose: bool | None,
) -> None:
    """Run (or resume) the search described by CONFIG.

    With --workers N (and --gpus), a chief and N workers share the trials on this host. Across
    hosts, start one `--role chief` and any number of `--role worker` processes.
    """
    from autoorder.distributed.launch import launch, parse_gpus  # lazy: --help stays fast
    from autoorder.distributed.roles import role_from_options  # lazy: --help stays fast

    out = out or Path("runs") / config.stem
    try:
        gpu_list = parse_gpus(gpus)
        if gpu_list is not None and workers is None:
            workers = len(gpu_list)
        if workers is not None and (role or oracle or worker_id):
            raise ValueError("--workers launches a chief and its workers here; it does not go with --role, --oracle or --worker-id.")
        dist_role = None if workers is not None else role_from_options(role, oracle, worker_id)
        if dist_role is not None and dist_role.is_worker and overwrite:
            raise ValueError("--overwrite is for the chief (or a single-process search), not for a worker.")
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    cfg = checked_config(config, overrides)  # a bad config or a missing manifest: answered before TensorFlow
    if workers is not None:
        try:
            code = launch(
                config, out, workers=workers, gpus=gpu_list, overrides=overrides, overwrite=overwrite,
                debug=debug_mode(), log=echo_err, echo=click.echo,
            )
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        if code:
            sys.exit(code)
        return
    start_tensorflow()
    from autoorder.distributed.chief import run_chief  # lazy: imports TensorFlow
    from autoorder.distributed.worker import run_worker  # lazy: imports TensorFlow
    from autoorder.run.search import run_search  # lazy: imports TensorFlow

    for w in cfg.warnings():
        echo_err(f"warning: {w}")
    if dist_role is not None and dist_role.is_worker:
        summary = run_worker(cfg, out, dist_role, log=echo_err)
        click.echo(f"worker {summary['worker']}: {summary['trials']} trial(s) run; the chief at {summary['chief']} has the results")
        return
    if dist_role is not None:
        results = run_chief(cfg, out, dist_role, overwrite=overwrite, log=echo_err)
    else:
        results = run_search(cfg, out, overwrite=overwrite, log=echo_err, verbose=epoch_lines(verbose))
    click.echo(format_ranking(results))
    click.echo(f"results: {out / 'results.json'}\nbest model: {out / 'best_model.keras'}")


def epoch_lines(verbose: bool | None) -> bool:
    """-v / -q as given, else a line per epoch only when stderr is a terminal (not in logs and CI)."""
    return sys.stderr.isatty() if verbose is None else verbose


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Benchmark folder [benchmarks/<config name>].")
@click.option("--seeds", default=3, show_default=True, type=int, help="Retrainings of each best configuration, per repeat.")
@click.option("--repeats", default=1, show_default=True, type=int, help="Outer repeats, each with its own split and searches.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--overwrite", is_flag=True, help="Start over instead of resuming.")
@click.option("-v", "--verbose", "verbose", flag_value=True, default=None, help="A line per epoch of every trial and retraining [on when stderr is a terminal].")
@click.option("-q", "--quiet-epochs", "verbose", flag_value=False, help="No per-epoch lines, even on a terminal.")
@handle_errors
def benchmark(
    config: Path, out: Path | None, seeds: int, repeats: int, overrides: tuple[str, ...], overwrite: bool, verbose: bool | None,
) -> None:
    """Measure the gain of the best order-aware model over the best image-only one.

    Each of the --repeats outer repeats splits the data and searches both arms with its own seeds,
    then retrains each best configuration with --seeds seeds; the gain's interval is a hierarchical
    bootstrap over repeats, seeds and test objects.
    """
    cfg = checked_config(config, overrides)
    start_tensorflow()
    from autoorder.benchmarking.protocol import run_benchmark  # lazy: imports TensorFlow

    for w in cfg.warnings():
        echo_err(f"warning: {w}")
    out = out or Path("benchmarks") / config.stem
    command = "autoorder benchmark " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    result = run_benchmark(cfg, out, seeds=seeds, repeats=repeats, overwrite=overwrite, log=echo_err, command=command,
                           verbose=epoch_lines(verbose))
    click.echo(format_benchmark(result))
    click.echo(f"benchmark: {out / 'benchmark.json'}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("autoorder-demo"), show_default=True)
@click.option("--data-seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True, help="Seed of the generated glyph photos.")
@click.option("-v", "--verbose", "verbose", flag_value=True, default=None, help="A line per epoch of every trial and retraining [on when stderr is a terminal].")
@click.option("-q", "--quiet-epochs", "verbose", flag_value=False, help="No per-epoch lines, even on a terminal.")
@handle_errors
def demo(out: Path, data_seed: int, verbose: bool | None) -> None:
    """Generate a small glyph-views set and benchmark order-aware vs image-only search on it, offline."""
    start_tensorflow()
    from autoorder.benchmarking.demo import run_demo  # lazy: imports TensorFlow

    result = run_demo(out, log=echo_err, data_seed=data_seed, verbose=epoch_lines(verbose))
    bench = out / "benchmark"
    click.echo(format_benchmark(result))
    best = result.repeats[0].searches["order_aware"].best
    click.echo(f"best order-aware configuration: {format_hps_short(best.hyperparameters)}")
    run_dirs = [bench / result.repeats[0].searches[arm].run_dir / "best_model.keras" for arm in ("order_aware", "image_only")]
    click.echo(f"report: {bench / 'report.md'}\nbest models: {run_dirs[0]}, {run_dirs[1]}")


@main.command()
@click.argument("folder", metavar="RUN_DIR_OR_BENCHMARK_DIR", type=click.Path(path_type=Path))
@handle_errors
def report(folder: Path) -> None:
    """Render report.md and plots/ for a run folder (results.json) or a benchmark folder (benchmark.json)."""
    from autoorder.reports.folder import render_folder  # lazy: matplotlib

    path = render_folder(folder)
    click.echo(f"wrote {path} (plots in {path.parent / 'plots'})")


if __name__ == "__main__":
    main()
