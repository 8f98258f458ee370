"""Organizer commands: ``challenge load``, ``import-devkit``, ``export`` and ``demo``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask import current_app

from challenge import demo
from challenge.bundles import BundleError, load_bundle
from challenge.devkit import DevkitError, ImportOptions, import_devkit
from challenge.export_bundle import ExportError, find, keep, write


@click.command("load")
@click.argument("path", type=click.Path(file_okay=False, exists=True))
def load_command(path: str) -> None:
    """Create or update a challenge from the bundle folder PATH (with challenge.toml)."""
    try:
        challenge = load_bundle(path)
    except BundleError as exc:
        raise click.ClickException(f"bundle not loaded, nothing changed: {exc}") from None
    phases = sum(len(t.phases) for t in challenge.tracks)
    click.echo(f"loaded {challenge.slug} ({challenge.title}): {len(challenge.tracks)} tracks, "
               f"{phases} phases")


def _datetime(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date-time like 2012-05-01T00:00:00Z") from None


@click.command("import-devkit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--year", type=int, required=True, help="The challenge year (names the devkit's files).")
@click.option("--slug", help="Challenge slug (default ilsvrcYEAR).")
@click.option("--title", help="Challenge title (default 'ILSVRC YEAR').")
@click.option("--boxes", type=click.Path(exists=True, path_type=Path),
              help="Validation boxes: XML folder or tarball, or Kaggle's LOC_val_solution.csv; "
                   "adds the localization track. A DET devkit (data/det_lists/val.txt, "
                   "data/meta_det.mat): the validation XML folder or tarball, required.")
@click.option("--blacklist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Localization blacklist (default: the devkit's own, if any).")
@click.option("--real", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ReaL labels (real.json, 2012) for the classification track: its boards "
                   "add ReaL top-1 and top-5 error.")
@click.option("--opens", callback=_datetime, help="Phase opens (ISO date-time with zone; default now).")
@click.option("--closes", callback=_datetime, help="Phase closes (default a year after it opens).")
@click.option("--quota", default="5/day", show_default=True, help="Uploads per team: N/day, N/week, N/total.")
@click.option("--leaderboard", default="public", show_default=True,
              type=click.Choice(["public", "after-close", "hidden"]))
@click.option("--hierarchical/--no-hierarchical", default=None,
              help="Add the hierarchical-cost track (default: when meta.mat has a cost_matrix, as in 2010).")
def import_devkit_command(path: Path, year: int, slug: str | None, title: str | None,
                          boxes: Path | None, blacklist: Path | None, real: Path | None,
                          opens: datetime | None, closes: datetime | None, quota: str,
                          leaderboard: str, hierarchical: bool | None) -> None:
    """Create a year's challenge from an ILSVRC development kit PATH (.tar.gz or folder)."""
    options = ImportOptions(year=year, slug=slug, title=title, boxes=boxes, blacklist=blacklist,
                            real=real, opens=opens, closes=closes, quota=quota, leaderboard=leaderboard,
                            hierarchical=hierarchical)
    try:
        result = import_devkit(path, options)
    except DevkitError as exc:
        raise click.ClickException(f"devkit not imported, nothing changed: {exc}") from None
    challenge = result.challenge
    for line in result.used:
        click.echo(f"  used {line}")
    for line in result.skipped:
        click.echo(f"  skipped {line}")
    tracks = ", ".join(f"{t.slug} ({t.task}, {t.phases[0].images} images)" for t in challenge.tracks)
    click.echo(f"imported {challenge.slug} ({challenge.title}): {tracks}")


@click.command("export")
@click.argument("slug")
@click.argument("outdir", type=click.Path(path_type=Path), required=False)
@click.option("--as", "new_slug", help="Write the bundle under this slug (to re-create the year as a copy).")
@click.option("--to-store", is_flag=True,
              help="Keep the bundle as a .tar.gz in the platform's store (STORAGE_URL) instead of OUTDIR.")
def export_command(slug: str, outdir: Path | None, new_slug: str | None, to_store: bool) -> None:
    """Write challenge SLUG as a bundle folder OUTDIR that `challenge load` re-creates,
    or (--to-store) keep it as a .tar.gz in the platform's store, where every host
    reaches it (it holds the hidden ground truth: keep it private)."""
    if (outdir is None) == (not to_store):
        raise click.UsageError("give OUTDIR or --to-store (one of them)")
    challenge = find(slug)
    if challenge is None:
        raise click.ClickException(f"no challenge {slug!r}")
    try:
        if to_store:
            key = keep(challenge, slug=new_slug)
        else:
            bundle = write(challenge, outdir, slug=new_slug)
    except ExportError as exc:
        raise click.ClickException(f"not exported: {exc}") from None
    if to_store:
        click.echo(f"exported {slug} into the store ({current_app.config['STORAGE_URL']}) as {key}")
    else:
        click.echo(f"exported {slug} to {outdir}: {len(bundle.files) + 1} files "
                   f"(load it with: challenge load {outdir})")


@click.command("demo")
def demo_command() -> None:
    """Load the synthetic demo challenge (only into a database without challenges)."""
    if demo.load_demo(current_app):
        click.echo(f"demo loaded; log in as {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}")
    else:
        click.echo("the database already has a challenge; demo not loaded")
