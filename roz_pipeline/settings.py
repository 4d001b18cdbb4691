"""Configuration from the environment, also read from a `.env` in the working directory.

Variables already set in the environment win over the `.env` file, as with docker and dagster.
"""

import os
from pathlib import Path

from dotenv import dotenv_values

REPO_ROOT = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    """The value of `name` from the environment, else from `./.env`, else `default`. Empty counts as unset."""
    value = os.environ.get(name)
    if value:
        return value
    dotenv_path = Path.cwd() / ".env"
    if dotenv_path.is_file():
        value = dotenv_values(dotenv_path).get(name)
        if value:
            return value
    return default


def roz_home() -> Path:
    """Local state: embedded database, demo footage, rendered images (`ROZ_HOME`, default `./.roz`)."""
    return Path(env("ROZ_HOME", ".roz")).resolve()


def migrations_dir() -> Path:
    """The SQL migrations, `db/migrations/` of this checkout unless `ROZ_MIGRATIONS_DIR` says otherwise."""
    return Path(env("ROZ_MIGRATIONS_DIR", str(REPO_ROOT / "db" / "migrations"))).resolve()


DEFAULT_PARTITIONS_START = "2026-11-01"  # first partition when ROZ_PARTITIONS_START is unset (UTC)


def cameras_file() -> Path:
    """The camera registry (`ROZ_CAMERAS_FILE`, default `./cameras.yaml`)."""
    return Path(env("ROZ_CAMERAS_FILE", "cameras.yaml")).resolve()


def video_root() -> Path:
    """The local clip folder (`ROZ_VIDEO_ROOT`, default `$ROZ_HOME/videos`)."""
    return Path(env("ROZ_VIDEO_ROOT") or roz_home() / "videos").resolve()


def partitions_start() -> str:
    """The first partition's UTC date, `YYYY-MM-DD` (`ROZ_PARTITIONS_START`)."""
    return env("ROZ_PARTITIONS_START", DEFAULT_PARTITIONS_START)


def partition_grain() -> str:
    """`minute` (default) or `hour`: the size of a Dagster partition (`ROZ_PARTITION_GRAIN`)."""
    grain = env("ROZ_PARTITION_GRAIN", "minute")
    if grain not in ("minute", "hour"):
        raise ValueError(f"ROZ_PARTITION_GRAIN must be 'minute' or 'hour', got {grain!r}")
    return grain


def executor() -> str:
    """`multiprocess` (default: each run's steps in processes of its own machine) or `celery` (`ROZ_EXECUTOR`)."""
    name = env("ROZ_EXECUTOR", "multiprocess")
    if name not in ("multiprocess", "celery"):
        raise ValueError(f"ROZ_EXECUTOR must be 'multiprocess' or 'celery', got {name!r}")
    return name
