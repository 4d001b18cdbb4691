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
