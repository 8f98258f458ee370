"""Leaderboard downloads, final picks, a team's history, and the history of each challenge series."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

import scorer.tasks
from challenge import scoring
from challenge.challenges import service as challenges
from challenge.extensions import db
from challenge.leaderboards import columns, export, final, history, pages, picks
from challenge.leaderboards.chart import line_chart
from challenge.leaderboards.forms import FinalPickForm
from challenge.leaderboards.real import real_columns
from challenge.leaderboards.service import METHOD, Board, snapshot, viewer_board
from challenge.leaderboards.visibility import explain
from challenge.models import Phase, Submission, Team, Track, User

bp = Blueprint("leaderboards", __name__)


def _viewer() -> User | None:
    return current_user if current_user.is_authenticated else None  # type: ignore[return-value]


def _phase(slug: str, track_slug: str) -> tuple[Track, Phase]:
    challenge = challenges.get_challenge(slug) or abort(404)
    track = challenges.get_track(challenge, track_slug) or abort(404)
    phase = challenges.select_phase(track, request.args.get("phase")) or abort(404)
    return track, phase


def _filename(track: Track, phase: Phase, ext: str, board: Board) -> str:
    name = f"{track.challenge.slug}-{track.slug}-{phase.slug}-leaderboard"
    if board.name != "public":
        name += f"-{board.name}"
    if board.ranking != "all":
        name += f"-{board.ranking}"
    return f"{name}.{ext}"


def _board(phase: Phase, viewer: User | None) -> Board | str:
    """The board the request asks for (?board=, ?ranking=) if ``viewer`` may see it, else why not."""
    name, ranking = request.args.get("board", "public"), request.args.get("ranking", "all")
    try:
        board = viewer_board(phase, viewer, name, ranking)
    except ValueError as exc:
        abort(400, description=str(exc))
    return board if board is not None else explain(phase, viewer, board=name)


@bp.get("/c/<slug>/<track_slug>/leaderboard.json")
def board_json(slug: str, track_slug: str) -> ResponseReturnValue:
    """The whole board as a download (the paginated board is the API's)."""
    track, phase = _phase(slug, track_slug)
    board = _board(phase, _viewer())
    if isinstance(board, str):
        return jsonify({"error": board}), 403
    head = {
        "challenge": track.challenge.slug, "track": track.slug, "phase": phase.slug,
        "board": board.name, "ranking": board.ranking,
        "frozen": not board.live and phase.frozen_at is not None,
        "task": track.task, "guesses": track.guesses, "method": METHOD,
        "headline": scoring.task_of(track).headline, "direction": scoring.task_of(track).direction,
    }
    extra = real_columns(phase)
    entries = pages.download(phase, board, snapshot(phase, board), "export.json",
                             lambda rows: json.dumps(export.rows(rows, track, extra)))
    return Response(json.dumps(head)[:-1] + ', "entries": ' + entries + "}\n",
                    mimetype="application/json")


@bp.get("/c/<slug>/<track_slug>/leaderboard.csv")
def board_csv(slug: str, track_slug: str) -> ResponseReturnValue:
    """The whole board as CSV: every entry, never paginated."""
    track, phase = _phase(slug, track_slug)
    board = _board(phase, _viewer())
    if isinstance(board, str):
        return Response(board + "\n", status=403, mimetype="text/plain")
    extra = real_columns(phase)
    text = pages.download(phase, board, snapshot(phase, board), "export.csv",
                          lambda rows: export.to_csv(rows, track, extra))
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="{_filename(track, phase, "csv", board)}"'})


@bp.post("/submissions/<int:submission_id>/final")
@login_required
def final_pick(submission_id: int) -> ResponseReturnValue:
    """Mark or unmark a submission as one of its team's final picks (the submission page's button)."""
    user = _viewer()
    submission = db.session.get(Submission, submission_id)
    if submission is None or user is None or not any(
            m.user_id == user.id for m in submission.team.memberships):
        abort(404)
    form = FinalPickForm()
    if not form.validate_on_submit():
        flash("Not changed: the form was incomplete or expired; please try again.", "error")
    else:
        try:
            picks.set_final(user, submission, form.final.data == "1")
        except picks.PickError as exc:
            flash(f"Not changed: {exc.message}", "error")
        else:
            flash(f"Submission {submission.id} is {'now' if submission.final else 'no longer'} "
                  "one of your team's final picks.", "success")
    return redirect(url_for("submissions.show", submission_id=submission.id))


@bp.get("/teams/<int:team_id>/history")
def team_history(team_id: int) -> ResponseReturnValue:
    team = db.session.get(Team, team_id) or abort(404)
    return render_template("leaderboards/team_history.html", team=team,
                           history=history.team_history(team, _viewer()))


@bp.get("/history")
def all_history() -> ResponseReturnValue:
    return render_template("leaderboards/history_index.html",
                           series=history.all_series(_viewer()))


#: History panels: each measure on an axis of its own (a 2010 hierarchical cost of 2-3 drawn
#: on the axis of top-5 errors of 0.05-0.3 would flatten every error line to the floor), in
#: this order; a task's ``panel`` (scorer.tasks) names its axis, titled from its headline
#: when not listed here.
PANELS = (
    ("error", "Winning error by year", "Winning error (lower is better)"),
    ("cost", "Winning hierarchical cost by year", "Winning mean hierarchical cost (lower is better)"),
    ("map", "Winning detection mean AP by year", "Winning mean AP (higher is better)"),
)


def _measure(task: str) -> str:
    return columns.task_named(task).panel


def _panels(keys: set[str]) -> list[tuple[str, str, str]]:
    known = [p for p in PANELS if p[0] in keys]
    others = sorted(keys - {p[0] for p in PANELS})
    for key in others:
        task = next(t for t in scorer.tasks.all() if t.panel == key)
        known.append((key, f"Winning {task.headline} by year",
                      f"Winning {task.headline} ({task.direction} is better)"))
    return known


@bp.get("/history/<series_slug>")
def series_history(series_slug: str) -> ResponseReturnValue:
    series = history.get_series(series_slug, _viewer()) or abort(404)
    lines: dict[str, dict[str, list[tuple[int, float, str, str]]]] = {}
    names: dict[str, str] = {}  # a track's latest title names its line
    for w in series.winners:
        names[w.track_slug] = w.track_title
        href = url_for("challenges.track", slug=w.challenge_slug, track_slug=w.track_slug,
                       phase=w.phase_slug)
        label = f"{w.year} {w.track_title}: {w.error:.4f} ({w.team})"
        panel = lines.setdefault(_measure(w.task), {})
        panel.setdefault(w.track_slug, []).append((w.year, w.error, label, href))
    panels = [(key, title, axis, line_chart({names[slug]: points for slug, points in lines[key].items()}))
              for key, title, axis in _panels(set(lines))]
    return render_template("leaderboards/series.html", series=series, panels=panels)


@bp.get("/results/<slug>")
def final_results(slug: str) -> ResponseReturnValue:
    challenge = challenges.get_challenge(slug) or abort(404)
    results = final.results_of(challenge)
    if results is None:
        abort(404, description=f"The final results of {challenge.title} are not published yet.")
    return render_template("leaderboards/final_results.html", challenge=challenge, results=results)


@bp.get("/results/<slug>/results.json")
def final_results_json(slug: str) -> ResponseReturnValue:
    challenge = challenges.get_challenge(slug) or abort(404)
    results = final.results_of(challenge) or abort(404)
    return jsonify({"challenge": challenge.slug, "year": challenge.year, "title": challenge.title,
                    "published_at": results.published_at.isoformat(), **results.data})



@bp.app_template_global("task_of")
def _task_of(track: Track) -> scorer.tasks.Task:
    return scoring.task_of(track)


bp.add_app_template_global(columns.board_columns, "board_columns")
bp.add_app_template_global(columns.value, "column_value")
bp.add_app_template_global(columns.export_columns, "export_columns")
