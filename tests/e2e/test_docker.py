"""docker/ without a Docker engine: the entrypoint's commands run for real on
this machine, and the compose file is validated by whichever compose client
exists (skipped, with the reason, when none does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
COMPOSE = ROOT / "docker" / "compose.yaml"
SERVICES = ("postgres", "redis", "minio", "minio-init", "migrate", "web", "worker")


def entrypoint(*args: str, instance: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)  # a private SQLite file, never the suite's database
    env["CHALLENGE_INSTANCE"] = str(instance)
    env["SECRET_KEY"] = "test"
    # The image puts `challenge` and `gunicorn` on PATH; here they are in the venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_entrypoint_migrate_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    result = entrypoint("migrate", instance=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database at head" in result.stdout
    assert (tmp_path / "challenge.sqlite").is_file()


def test_entrypoint_runs_other_commands_as_given(tmp_path: Path) -> None:
    result = entrypoint("challenge", "users", "--help", instance=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "create" in result.stdout


def test_entrypoint_rejects_an_unknown_health_check(tmp_path: Path) -> None:
    result = entrypoint("healthcheck", "database", instance=tmp_path)
    assert result.returncode == 2
    assert "expected 'web' or 'worker', got 'database'" in result.stderr


def test_compose_services_use_the_entrypoint_commands() -> None:
    text = COMPOSE.read_text()
    for command in ("migrate", "web", "worker"):
        assert f'command: ["{command}"]' in text
        assert f"\n{command})" in ENTRYPOINT.read_text()
    assert "container_name:" not in text  # the worker must stay scalable


def test_compose_keeps_uploads_in_minio_not_a_shared_volume() -> None:
    text = COMPOSE.read_text()
    assert "image: minio/minio" in text and "mc mb --ignore-existing" in text
    assert "STORAGE_URL: ${STORAGE_URL:-s3://challenge/uploads}" in text
    assert "S3_ENDPOINT_URL: ${S3_ENDPOINT_URL-http://minio:9000}" in text
    # Web and workers share no folder: workers may run on other hosts.
    assert "uploads:/data" not in text and "\n  uploads:" not in text


def _compose_client() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_is_valid() -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no compose client (docker compose or docker-compose) on this machine")
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD")}
    for required, given in (("SECRET_KEY", {"MINIO_ROOT_PASSWORD": "minio-s3cret"}),
                            ("MINIO_ROOT_PASSWORD", {"SECRET_KEY": "s3cret"})):
        missing = subprocess.run([*client, "-f", str(COMPOSE), "config"], env={**env, **given},
                                 capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0
        assert required in missing.stderr + missing.stdout

    env.update(SECRET_KEY="s3cret", MINIO_ROOT_PASSWORD="minio-s3cret")
    result = subprocess.run([*client, "-f", str(COMPOSE), "config", "--services"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == set(SERVICES)
    config = subprocess.run([*client, "-f", str(COMPOSE), "config"], env=env,
                            capture_output=True, text=True, timeout=60).stdout
    assert config.count("STORAGE_URL: s3://challenge/uploads") == 3  # migrate, web, worker
