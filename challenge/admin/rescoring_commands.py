"""Commands: ``challenge truth ...`` (ground-truth versions) and ``challenge rescore ...``.

Actions are audited with no named organizer ("command line"), like the other console commands.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from challenge import rescoring, truth
from challenge.extensions import db
from challenge.models import Phase, RescoreRun, Submission

truth_cli = AppGroup("truth", help="Versions of a phase's hidden ground truth (audited).")
rescore_cli = AppGroup("rescore",
                       help="Rescore a phase or a submission; preview, publish, roll back (audited).")


def _phase(path: str) -> Phase:
    try:
        return truth.find_phase(path)
    except truth.TruthError as exc:
        raise click.ClickException(exc.message) from None


def _run(run_id: int) -> RescoreRun:
    run = db.session.get(RescoreRun, run_id)
    if run is None:
        raise click.ClickException(f"no rescore run {run_id}")
    return run


def _file(path: str | None) -> truth.TruthFile | None:
    return None if path is None else truth.TruthFile(Path(path).name, Path(path).read_bytes())


@truth_cli.command("list")
@click.argument("phase_path", metavar="SLUG/TRACK/PHASE")
def truth_list_command(phase_path: str) -> None:
    """List the phase's ground-truth versions (the current one marked *)."""
    phase = _phase(phase_path)
    counts = truth.scores_by_version(phase)
    for v in truth.versions(phase):
        mark = "*" if v.number == phase.truth_version else " "
        blobs = (v.labels_blob, v.boxes_blob, v.blacklist_blob, v.real_blob)
        files = ", ".join(f"{b.filename} {b.sha256[:12]}" for b in blobs if b is not None)
        click.echo(f"{mark} version {v.number}: {v.images} images; {files}; "
                   f"{counts.get(v.number, 0)} published scores{'; ' + v.note if v.note else ''}")


@truth_cli.command("replace")
@click.argument("phase_path", metavar="SLUG/TRACK/PHASE")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), help="New labels file.")
@click.option("--boxes", type=click.Path(exists=True, dir_okay=False), help="New boxes (localization).")
@click.option("--blacklist", type=click.Path(exists=True, dir_okay=False), help="New blacklist.")
@click.option("--no-blacklist", is_flag=True, help="Drop the blacklist.")
@click.option("--real", type=click.Path(exists=True, dir_okay=False), help="New ReaL labels (real.json).")
@click.option("--no-real", is_flag=True, help="Drop the ReaL labels.")
@click.option("--note", default="", help="Why (kept with the version and in the audit log).")
def truth_replace_command(phase_path: str, labels: str | None, boxes: str | None, blacklist: str | None,
                          no_blacklist: bool, real: str | None, no_real: bool, note: str) -> None:
    """Add a new version of the phase's ground truth; files not given are the current ones."""
    phase = _phase(phase_path)
    try:
        version = truth.replace(phase, labels=_file(labels), boxes=_file(boxes), blacklist=_file(blacklist),
                                drop_blacklist=no_blacklist, real=_file(real), drop_real=no_real, note=note)
    except truth.TruthError as exc:
        raise click.ClickException(exc.message) from None
    if version.number == phase.truth_version:
        click.echo(f"version {version.number} added and current (the phase had no scores)")
    else:
        click.echo(f"version {version.number} added; published scores stay on version {phase.truth_version} "
                   f"until 'challenge rescore start {phase_path}' is published")


@rescore_cli.command("start")
@click.argument("phase_path", metavar="SLUG/TRACK/PHASE")
@click.option("--version", type=int, help="Ground-truth version (default: the newest; "
                                          "the current one with --submission).")
@click.option("--submission", "submission_id", type=int, help="Rescore only this submission.")
def rescore_start_command(phase_path: str, version: int | None, submission_id: int | None) -> None:
    """Rescore the phase (or one submission) in the background; nothing is published yet."""
    phase = _phase(phase_path)
    submission = None
    if submission_id is not None:
        submission = db.session.get(Submission, submission_id)
        if submission is None:
            raise click.ClickException(f"no submission {submission_id}")
    try:
        run = rescoring.start(phase, version=version, submission=submission)
    except rescoring.RescoreError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"rescore run {run.id} started: {len(run.items)} submission(s) against version {run.version}; "
               f"follow it with 'challenge rescore status {run.id}'")


@rescore_cli.command("list")
@click.argument("phase_path", metavar="[SLUG/TRACK/PHASE]", required=False)
def rescore_list_command(phase_path: str | None) -> None:
    """List recent rescore runs (of one phase)."""
    for run in rescoring.runs(_phase(phase_path) if phase_path else None):
        state = rescoring.progress(run)
        scope = f"submission {run.submission_id}" if run.submission_id else "whole phase"
        click.echo(f"run {run.id}: {truth.phase_label(run.phase)}, {scope}, version {run.version}, "
                   f"{run.status}, {state.done}/{state.total} done ({state.failed} failed)")


@rescore_cli.command("status")
@click.argument("run_id", type=int)
def rescore_status_command(run_id: int) -> None:
    """Progress, failures and (once finished) the preview of rank changes."""
    run = _run(run_id)
    state = rescoring.progress(run)
    click.echo(f"run {run.id}: {truth.phase_label(run.phase)} against version {run.version}, {run.status}; "
               f"{state.done} of {state.total} done ({state.scored} scored, {state.failed} failed)")
    for item in rescoring.failures(run):
        click.echo(f"  failed: submission {item.submission_id}: {item.error}")
    late = rescoring.missing(run)
    if late and state.finished:
        click.echo(f"  missing: {len(late)} scored submission(s) not in the run: "
                   f"{', '.join(map(str, late))} ('challenge rescore fill {run.id}')")
    if state.finished and run.status == "open":
        click.echo("team: rank now -> after (error now -> after)")
        for c in rescoring.preview(run):
            click.echo(f"  {c.team}: {c.old_rank or '-'} -> {c.new_rank or '-'} "
                       f"({_err(c.old_error)} -> {_err(c.new_error)})")


def _err(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def _act(name: str, run_id: int) -> None:
    run = _run(run_id)
    action = {"publish": rescoring.publish, "rollback": rescoring.rollback, "fill": rescoring.fill,
              "discard": rescoring.discard}[name]
    try:
        count = action(run)
    except rescoring.RescoreError as exc:
        raise click.ClickException(exc.message) from None
    done = {"publish": f"published ({count} scores)", "rollback": f"rolled back ({count} scores restored)",
            "fill": f"{count} submission(s) queued", "discard": "discarded"}[name]
    click.echo(f"rescore run {run_id} {done}")


@rescore_cli.command("publish")
@click.argument("run_id", type=int)
def rescore_publish_command(run_id: int) -> None:
    """Publish a finished run: its scores (and version) replace the published ones."""
    _act("publish", run_id)


@rescore_cli.command("rollback")
@click.argument("run_id", type=int)
def rescore_rollback_command(run_id: int) -> None:
    """Restore the scores (and version) a published run replaced."""
    _act("rollback", run_id)


@rescore_cli.command("fill")
@click.argument("run_id", type=int)
def rescore_fill_command(run_id: int) -> None:
    """Queue again what an open run lacks (failed items, submissions scored since it started)."""
    _act("fill", run_id)


@rescore_cli.command("discard")
@click.argument("run_id", type=int)
def rescore_discard_command(run_id: int) -> None:
    """Drop an open run and its candidate scores."""
    _act("discard", run_id)
