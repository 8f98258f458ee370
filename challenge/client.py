"""The competitors' command-line client: ``challenge login|submit|quota|submissions|status|
download|leaderboard``.

It talks to a server's REST API (/api/v1) over HTTP with the standard library
only, so it never needs the platform's database or configuration: these
commands are registered on the ``challenge`` group itself, not on the app.

Server URL and token come from ``CHALLENGE_URL`` / ``CHALLENGE_TOKEN``, else
from the file ``challenge login`` writes ($CHALLENGE_CONFIG, or
~/.config/ilsvrc-challenge/config.toml, mode 0600 because it holds a token).
"""

from __future__ import annotations

import json
import os
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

DEFAULT_URL = "http://127.0.0.1:5000"  # where `challenge run` serves by default
CHUNK = 64 * 1024
#: Exit status for a file the server refused as malformed (1 for every other error).
EXIT_BAD_FILE = 2
FINAL_STATUSES = ("scored", "failed")


# ------------------------------------------------------------------ configuration

def config_path() -> Path:
    override = os.environ.get("CHALLENGE_CONFIG")
    if override:
        return Path(override).expanduser()
    return Path("~/.config/ilsvrc-challenge/config.toml").expanduser()


def read_config(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the config file {path}: {exc}") from exc
    return {k: v for k, v in data.items() if k in ("url", "token") and isinstance(v, str)}


def write_config(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON string escapes are valid TOML basic strings.
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(values.items()))
    # Create with 0600 from the start: the token must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an older file may have had wider permissions


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None


def load_settings() -> Settings:
    """Environment first, then the config file, then the local default URL."""
    stored = read_config(config_path())
    url = os.environ.get("CHALLENGE_URL") or stored.get("url") or DEFAULT_URL
    token = os.environ.get("CHALLENGE_TOKEN") or stored.get("token") or None
    return Settings(url=url.rstrip("/"), token=token)


# ------------------------------------------------------------------ HTTP

class ApiError(Exception):
    """A refusal from the server (``status`` > 0) or no answer at all (``status`` == 0)."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body or {}


def _error_from(exc: urllib.error.HTTPError) -> ApiError:
    raw = exc.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return ApiError(exc.code, body["error"], body)
    text = raw.decode("utf-8", "replace").strip()
    # A proxy or an HTML error page: say what came back rather than parse it.
    return ApiError(exc.code, f"HTTP {exc.code} {exc.reason}" + (f": {text[:200]}" if text and
                                                                  not text.startswith("<") else ""))


class Client:
    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        self.settings = settings
        self.timeout = timeout

    def _headers(self, token_needed: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        elif token_needed:
            raise ApiError(0, "no API token: set CHALLENGE_TOKEN or run 'challenge login --token ...' "
                              "(create a token on your account page)")
        return headers

    def _send(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from exc
        except urllib.error.URLError as exc:
            raise ApiError(0, f"cannot reach {self.settings.url}: {exc.reason}") from exc
        except (TimeoutError, ConnectionError) as exc:
            raise ApiError(0, f"cannot reach {self.settings.url}: {exc}") from exc

    def get(self, path: str, params: dict[str, str | None] | None = None, *,
            token_needed: bool = False) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v})
        url = f"{self.settings.url}/api/v1{path}" + (f"?{query}" if query else "")
        return self._send(urllib.request.Request(url, headers=self._headers(token_needed)))

    def get_file(self, path: str) -> tuple[bytes, str]:
        """The raw bytes at ``path`` and the server's file name for them (token needed)."""
        request = urllib.request.Request(f"{self.settings.url}/api/v1{path}",
                                         headers=self._headers(token_needed=True))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                name = response.headers.get_filename() or ""
                return response.read(), name
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ApiError(0, f"cannot reach {self.settings.url}: {getattr(exc, 'reason', exc)}") from exc

    def upload(self, slug: str, track: str, file: Path, fields: dict[str, str],
               progress: Callable[[int], None] | None = None, chunk_size: int = CHUNK) -> Any:
        """POST the file as multipart/form-data, streamed in chunks so big files
        never sit in memory twice; ``progress`` gets the bytes of each chunk sent."""
        headers = self._headers(token_needed=True)
        boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="{_quoted(file.name)}"\r\nContent-Type: text/plain\r\n\r\n').encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = file.stat().st_size

        def body() -> Iterator[bytes]:
            yield head
            with file.open("rb") as handle:
                while chunk := handle.read(chunk_size):
                    if progress:
                        progress(len(chunk))
                    yield chunk
            yield tail

        headers.update({"Content-Type": f"multipart/form-data; boundary={boundary}",
                        "Content-Length": str(len(head) + size + len(tail))})
        url = f"{self.settings.url}/api/v1/challenges/{_segment(slug)}/tracks/{_segment(track)}/submissions"
        return self._send(urllib.request.Request(url, data=body(), headers=headers, method="POST"))


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _quoted(filename: str) -> str:
    return filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")


# ------------------------------------------------------------------ output

def _fail(exc: ApiError, code: int = 1) -> NoReturn:
    click.echo(f"Error: {exc.message}", err=True)
    raise SystemExit(code)


def _split_track(value: str) -> tuple[str, str]:
    slug, sep, track = value.partition("/")
    if not sep or not slug or not track or "/" in track:
        raise click.BadParameter(f"expected CHALLENGE/TRACK such as ilsvrc2012/loc, got {value!r}")
    return slug, track


def human_wait(seconds: float) -> str:
    """A wait as people say it: '40 s', '5 min', '9 h 49 min', '2 days 3 h'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = (seconds + 59) // 60  # never promise a slot earlier than it opens
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} days" + (f" {hours} h" if hours else "")


def _size(n: int) -> str:
    return f"{n:,} bytes" + (f" ({n / 2**20:.0f} MB)" if n >= 2**20 else "")


def _when(iso: str | None) -> str:
    """An ISO time from the API as 'YYYY-MM-DD HH:MM UTC (in 9 h 49 min)'."""
    if not iso:
        return "never in this phase"
    moment = datetime.fromisoformat(iso)
    left = (moment - datetime.now(UTC)).total_seconds()
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") + (f" (in {human_wait(left)})" if left > 0
                                                                     else "")


def _pct(value: Any) -> str:
    return f"{value:.5f}" if isinstance(value, int | float) else "-"


def format_scores(scores: dict[str, Any]) -> list[str]:
    lines = [f"  error        {_pct(scores.get('error'))}"]
    if "cls_error" in scores:
        lines.append(f"  cls error    {_pct(scores['cls_error'])}")
    for k, value in enumerate(scores.get("error_at_k") or [], start=1):
        lines.append(f"  error@{k:<6} {_pct(value)}")
    if scores.get("images") is not None:
        lines.append(f"  images       {scores['images']}")
    return lines


def format_submission(sub: dict[str, Any]) -> list[str]:
    where = "/".join(str(sub[k]) for k in ("challenge", "track", "phase") if sub.get(k))
    lines = [f"Submission {sub['id']}" + (f" ({where})" if where else "") + f": {sub['status']}"]
    if sub.get("method"):
        lines.append(f"  method       {sub['method']}")
    if sub.get("error"):
        lines.append(f"  reason       {sub['error']}")
    if isinstance(sub.get("scores"), dict):
        lines.extend(format_scores(sub["scores"]))
    for subset in sub.get("subset_scores") or []:  # split phases: public (and private) images
        lines.append(f"  on the {subset['subset']} leaderboard's images:")
        lines.extend(format_scores(subset))
    if sub.get("status") == "scored" and not sub.get("scores") and not sub.get("subset_scores"):
        lines.append("  (scores are not shown for this phase)")
    return lines


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


# ------------------------------------------------------------------ commands

@click.command("login")
@click.option("--url", help=f"Server URL (default {DEFAULT_URL}).")
@click.option("--token", help="An API token from your account page.")
def login_command(url: str | None, token: str | None) -> None:
    """Save the server URL and API token to the config file (mode 0600)."""
    path = config_path()
    values = read_config(path)
    if url is None and token is None:
        url = click.prompt("Server URL", default=values.get("url", DEFAULT_URL))
        token = click.prompt("API token", hide_input=True)
    if url is not None:
        values["url"] = url.rstrip("/")
    if token is not None:
        values["token"] = token.strip()
    write_config(path, values)
    click.echo(f"Saved {', '.join(sorted(values))} to {path}")


@click.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--track", "track_ref", required=True, metavar="CHALLENGE/TRACK",
              help="For example ilsvrc2012/loc.")
@click.option("--phase", help="Phase slug (default: the phase open now).")
@click.option("--method", default="", help="Method name shown on the leaderboard.")
@click.option("--description", default="", help="A short description of the method.")
@click.option("--wait", is_flag=True, help="Wait until the file is scored and print the scores.")
@click.option("--poll", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between status checks with --wait.")
@click.option("--timeout", default=3600.0, show_default=True, type=click.FloatRange(min=1),
              help="Give up waiting after this many seconds.")
def submit_command(file: Path, track_ref: str, phase: str | None, method: str, description: str,
                   wait: bool, poll: float, timeout: float) -> None:
    """Upload a prediction FILE to a track; exit 2 if the server finds the file malformed."""
    slug, track = _split_track(track_ref)
    client = Client(load_settings())
    fields = {k: v for k, v in (("phase", phase), ("method", method),
                                ("description", description)) if v}
    size = file.stat().st_size
    # Ask first what the server takes: a file over its limit, or an upload with no slot
    # left, is refused here in a second instead of after sending tens of megabytes.
    try:
        quota = client.get(f"/challenges/{_segment(slug)}/tracks/{_segment(track)}/quota",
                           {"phase": phase}, token_needed=True)
    except ApiError as exc:
        _fail(exc)
    limit = quota.get("max_upload_bytes")
    if isinstance(limit, int) and size > limit:
        _fail(ApiError(413, f"{file.name} is {size:,} bytes; the server takes at most {_size(limit)}. "
                            "Compress it with gzip, or check it is the right file"), EXIT_BAD_FILE)
    if quota.get("remaining") == 0:
        _fail(ApiError(429, f"no uploads left in phase {quota['phase']} ({quota['used']} of "
                            f"{quota['limit']} used); the next slot opens "
                            f"{_when(quota.get('next_slot_at'))}"))
    try:
        with click.progressbar(length=size, label=f"Uploading {file.name}", show_pos=True,
                               file=click.get_text_stream("stderr")) as bar:
            created = client.upload(slug, track, file, fields, progress=bar.update)
    except ApiError as exc:
        message = exc.message
        retry = exc.body.get("retry_after")
        if exc.status == 429 and isinstance(retry, int):
            message += f" (retry in {human_wait(retry)})"
        if exc.status == 0 and isinstance(limit, int):
            message += f"; the server may have closed the connection (its upload limit is {limit:,} bytes)"
        _fail(ApiError(exc.status, message), EXIT_BAD_FILE if exc.status in (400, 413) else 1)
    click.echo(f"Submission {created['id']} accepted: {created['status']}")
    if wait:
        sub = _wait(client, created["id"], poll, timeout)
        click.echo("\n".join(format_submission(sub)))
        if sub["status"] == "failed":
            raise SystemExit(1)


def _wait(client: Client, submission_id: int, poll: float, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            sub = client.get(f"/submissions/{submission_id}", token_needed=True)
        except ApiError as exc:
            _fail(exc)
        shown = sub["status"] + (f" ({sub['note']})" if sub.get("note") else "")
        if shown != last:
            click.echo(f"  status: {shown}", err=True)
            last = shown
        if sub["status"] in FINAL_STATUSES:
            return sub
        if time.monotonic() >= deadline:
            _fail(ApiError(0, f"gave up after {timeout:g} s; submission {submission_id} is still "
                              f"{sub['status']} (check later with 'challenge status {submission_id}')"))
        time.sleep(poll)


@click.command("status")
@click.argument("submission_id", type=int)
def status_command(submission_id: int) -> None:
    """Show one of your team's submissions: status, reason, scores."""
    try:
        sub = Client(load_settings()).get(f"/submissions/{submission_id}", token_needed=True)
    except ApiError as exc:
        _fail(exc)
    click.echo("\n".join(format_submission(sub)))


@click.command("submissions")
@click.option("--track", "track_ref", metavar="CHALLENGE[/TRACK]", help="Only this challenge or track.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True,
              help="How many to list (one page).")
@click.option("--before", type=click.IntRange(min=1), help="Only submissions older than this id "
                                                           "(the next page, as the list says).")
def submissions_command(track_ref: str | None, limit: int, before: int | None) -> None:
    """List your teams' submissions, newest first, a page at a time."""
    slug, _, track = (track_ref or "").partition("/")
    query = {"challenge": slug, "track": track, "limit": str(limit), "before": str(before or "")}
    try:
        body = Client(load_settings()).get("/submissions", query, token_needed=True)
    except ApiError as exc:
        _fail(exc)
    subs = body["submissions"]
    if not subs:
        click.echo("No submissions.")
        return
    rows = [[str(s["id"]), "/".join(str(s.get(k) or "") for k in ("challenge", "track", "phase")),
             s["status"], _shown_error(s), s.get("method") or "",
             str(s.get("created_at") or "")[:19].replace("T", " ")] for s in subs]
    click.echo("\n".join(table(["ID", "TRACK", "STATUS", "ERROR", "METHOD", "UPLOADED (UTC)"], rows)))
    if body.get("next_before"):
        more = " ".join(["challenge submissions", *([f"--track {track_ref}"] if track_ref else []),
                         *([f"--limit {limit}"] if limit != 50 else []), f"--before {body['next_before']}"])
        click.echo(f"Older submissions: {more}")


def _shown_error(sub: dict[str, Any]) -> str:
    """The error a list shows: the whole phase's, else (split phases) the public images'."""
    if isinstance(sub.get("scores"), dict):
        return _pct(sub["scores"].get("error"))
    public = next((v for v in sub.get("subset_scores") or [] if v.get("subset") == "public"), None)
    return f"{_pct(public['error'])} (public)" if public else "-"


@click.command("quota")
@click.argument("track_ref", metavar="CHALLENGE/TRACK")
@click.option("--phase", help="Phase slug (default: the phase open now).")
def quota_command(track_ref: str, phase: str | None) -> None:
    """How many uploads your team has left in a track's phase, and when the next slot opens."""
    slug, track = _split_track(track_ref)
    try:
        q = Client(load_settings()).get(f"/challenges/{_segment(slug)}/tracks/{_segment(track)}/quota",
                                        {"phase": phase}, token_needed=True)
    except ApiError as exc:
        _fail(exc)
    per = "in total" if q["period"] == "total" else f"per {q['period']} (UTC)"
    click.echo(f"{slug}/{track} phase {q['phase']}: {q['remaining']} of {q['limit']} uploads left {per}")
    if q["remaining"] == 0:
        click.echo(f"  next slot: {_when(q.get('next_slot_at'))}")
    elif q.get("resets_at"):
        click.echo(f"  this {q['period']} ends {_when(q['resets_at'])}")
    if isinstance(q.get("max_upload_bytes"), int):
        click.echo(f"  largest upload: {_size(q['max_upload_bytes'])}")


@click.command("download")
@click.argument("submission_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: the uploaded file's name, in this folder).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def download_command(submission_id: int, output: Path | None, force: bool) -> None:
    """Download one of your team's submitted files, exactly as uploaded."""
    try:
        data, name = Client(load_settings()).get_file(f"/submissions/{submission_id}/file")
    except ApiError as exc:
        _fail(exc)
    # The server's name is only a suggestion: never a path, never hidden.
    target = output or Path(Path(name).name.lstrip(".") or f"submission-{submission_id}.txt")
    if target.exists() and not force:
        _fail(ApiError(0, f"{target} exists; use --force to overwrite it or -o to choose another name"))
    target.write_bytes(data)
    click.echo(f"Wrote {target} ({len(data):,} bytes)")


@click.command("leaderboard")
@click.argument("track_ref", metavar="CHALLENGE/TRACK")
@click.option("--phase", help="Phase slug (default: the track's current phase).")
@click.option("--board", "board_name", type=click.Choice(["public", "private"]), default="public",
              show_default=True, help="Split phases: the public or the private leaderboard.")
@click.option("--ranking", type=click.Choice(["all", "provided"]), default="all", show_default=True,
              help="All entries, or only those trained on the provided data (where the track ranks both).")
def leaderboard_command(track_ref: str, phase: str | None, board_name: str, ranking: str) -> None:
    """Print a track's leaderboard as a table."""
    slug, track = _split_track(track_ref)
    try:
        board = Client(load_settings()).get(f"/challenges/{_segment(slug)}/tracks/{_segment(track)}"
                                            "/leaderboard", {"phase": phase, "board": board_name,
                                                             "ranking": ranking})
    except ApiError as exc:
        _fail(exc)
    title = f"{slug}/{track} - {board['phase']['title']} ({board['phase']['slug']})"
    if board_name != "public" or ranking != "all":
        title += f", {board_name} board, {'provided data only' if ranking == 'provided' else 'all entries'}"
    click.echo(title)
    if not board["visible"]:
        click.echo("The scores of this phase are not public yet.")
        return
    if board.get("frozen"):
        click.echo("Frozen: this board shows the scores as they stood at the freeze.")
    entries = board["entries"]
    if not entries:
        click.echo("No scored entries yet.")
        return
    loc = any("cls_error" in e for e in entries)
    headers = ["RANK", "TEAM", "METHOD", "ERROR"] + (["CLS ERROR"] if loc else []) + ["95% CI"]
    rows = []
    for e in entries:
        low, high = e.get("ci95") or [None, None]
        ci = f"{_pct(low)}-{_pct(high)}" if low is not None and high is not None else "-"
        # Reference entries (the organizers' baselines) are shown but take no rank.
        rank = str(e["rank"]) if e.get("rank") is not None else "ref"
        rows.append([rank, e["team"], e.get("method") or "", _pct(e["error"])]
                    + ([_pct(e.get("cls_error"))] if loc else []) + [ci])
    click.echo("\n".join(table(headers, rows)))


COMMANDS = [login_command, submit_command, quota_command, submissions_command, status_command,
            download_command, leaderboard_command]
