"""`autoorder plugins list` and `autoorder plugins check`: what was found, from where, and whether it fits.

Without --config both look in `plugins/` of the current folder (plus installed entry points).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from autoorder.cli.common import handle_errors, start_tensorflow
from autoorder.core.config import load_config


def _registry_loader(config: Path | None) -> tuple[Callable[[], Any], int | None]:
    """A lazy registry loader and the image size the config searches at (None without one).

    The config is read first: a wrong path is answered before TensorFlow starts."""
    cfg = load_config(config) if config is not None else None
    start_tensorflow()  # plugins build Keras models; without TensorFlow's start-up chatter
    from autoorder.model.catalog import load_registry, registry_for  # lazy: after the quiet import above

    if cfg is None:
        return (lambda: load_registry([Path("plugins")])), None
    return (lambda: registry_for(cfg)), cfg.data.image_size


def _short(points: list[str] | None, n: int = 4) -> str:
    if points is None:
        return "?"
    if not points:
        return "-"
    head = ", ".join(points[:n])
    return head if len(points) <= n else f"{head}, ... (+{len(points) - n})"


def format_table(rows: list[dict]) -> str:
    header = ("KIND", "NAME", "SIZE", "PARAMS", "FREEZE POINTS", "SOURCE")
    body = []
    for r in rows:
        if r["kind"] == "backbone":
            size = str(r["default_image_size"]) if r["default_image_size"] else "-"
            params = f"{r['params']:,}" if r["params"] is not None else "?"
            points = _short(r["freeze_points"])
        else:
            size, params = "-", "-"
            points = "(uses order)" if r.get("uses_order") else "(image only)"
        body.append((r["kind"], r["name"], size, params, points, r["source"]))
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *body]:
        cells = [row[i].rjust(widths[i]) if i in (2, 3) else row[i].ljust(widths[i]) for i in range(len(widths))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    notes = [f"{r['name']}: {r['error']}" for r in rows if r.get("error")]
    if notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines)


@click.group()
def plugins() -> None:
    """Backbones and order encodings: built-ins, plugin folders, installed packages."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--config", type=click.Path(path_type=Path), default=None, help="Use this config's plugins [plugins/ here].")
@handle_errors
def plugins_list(as_json: bool, config: Path | None) -> None:
    """List every backbone and encoding with its source, image size, freeze points and parameters."""
    loader, _ = _registry_loader(config)  # starts TensorFlow quietly
    from autoorder.model.conformance import describe_plugins  # lazy: imports TensorFlow

    rows = describe_plugins(loader())
    click.echo(json.dumps(rows, indent=2) if as_json else format_table(rows))


@plugins.command("check")
@click.argument("name_or_path")
@click.option("--config", type=click.Path(path_type=Path), default=None, help="Use this config's plugins [plugins/ here].")
@click.option("--image-size", type=click.IntRange(8, 1024), default=None, help="Build backbones at this size [data.image_size of --config, else 32].")
@handle_errors
def plugins_check(name_or_path: str, config: Path | None, image_size: int | None) -> None:
    """Run the conformance checks on a registered NAME or a plugin .py file PATH."""
    loader, cfg_size = _registry_loader(config)  # starts TensorFlow quietly
    from autoorder.model.conformance import check_target  # lazy: imports TensorFlow

    reports = check_target(name_or_path, loader, image_size=image_size or cfg_size or 32)
    failed = 0
    for rep in reports:
        click.echo(rep.title())
        for line in rep.lines():
            click.echo(f"  {line}")
        verdict = "OK" if rep.passed else f"FAILED ({len(rep.failures)} check{'s' if len(rep.failures) != 1 else ''})"
        click.echo(f"  => {verdict}")
        failed += not rep.passed
    if failed:
        raise SystemExit(1)
