"""`autoorder predict`, `evaluate` and `export`: using the best model of a finished run.

Each command first checks its arguments, the run folder, the manifest and the target without
TensorFlow (`autoorder.run.inputs`), so a typo is answered at once; then TensorFlow starts.
"""

from __future__ import annotations

from pathlib import Path

import click

from autoorder.cli.common import echo_err, handle_errors, start_tensorflow
from autoorder.cli.format import format_evaluation
from autoorder.core.fileio import csv_text, write_csv
from autoorder.run.inputs import EXPORT_FORMATS, check_export, check_out, open_run, read_rows

STDOUT = "-"


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", required=True, metavar="PREDICTIONS.csv|-", help="CSV file to write; '-' writes to stdout.")
@click.option("--proba", is_flag=True, help="Add one probability column per class (probability_<class>).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@handle_errors
def predict(run_dir: Path, manifest: Path, out: str, proba: bool, overwrite: bool) -> None:
    """Predict every image of MANIFEST with the best model of RUN_DIR."""
    to_stdout = out == STDOUT
    if not to_stdout:
        check_out(out, overwrite)
    run = open_run(run_dir)
    rows_in = read_rows(run, manifest)
    start_tensorflow()
    from autoorder.run.predict import prediction_table  # lazy: imports TensorFlow

    header, rows = prediction_table(run, rows_in, proba=proba, log=echo_err)
    if to_stdout:
        click.echo(csv_text(header, rows), nl=False)
        echo_err(f"{len(rows)} predictions written to stdout")
    else:
        write_csv(out, header, rows)
        click.echo(f"wrote {len(rows)} predictions to {out}")


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="EVAL.json",
              help="Also write every figure as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@handle_errors
def evaluate(run_dir: Path, manifest: Path, out: Path | None, overwrite: bool) -> None:
    """Score the best model of RUN_DIR on the labelled MANIFEST: accuracy, per class, per order, per object."""
    if out is not None:
        check_out(out, overwrite)
    run = open_run(run_dir)
    rows = read_rows(run, manifest, need_label=True)
    start_tensorflow()
    from autoorder.run.evaluate import evaluate_rows, write_evaluation  # lazy: imports TensorFlow

    ev = evaluate_rows(run, rows, log=echo_err)
    click.echo(format_evaluation(ev))
    if out is not None:
        write_evaluation(out, ev)
        click.echo(f"wrote {out}")


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(sorted(EXPORT_FORMATS)), help="Artifact to write.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder (savedmodel) or file (.tflite, .onnx).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@handle_errors
def export(run_dir: Path, fmt: str, out: Path, overwrite: bool) -> None:
    """Export the best model of RUN_DIR as a SavedModel, a LiteRT (.tflite) or an ONNX file."""
    check_export(fmt, out, overwrite)
    run = open_run(run_dir)
    start_tensorflow()
    from autoorder.run.deploy import export_run  # lazy: imports TensorFlow

    path = export_run(run.path, fmt, out, overwrite=overwrite)
    click.echo(f"wrote {path} ({fmt}; inputs image, order; output probabilities of {len(run.classes)} classes in the order of {run.path / 'labels.json'})")
