"""Every environment variable Roz reads, with its default and validation: the one place to add a setting.

Values come from the environment, else from a `.env` in the working directory (the environment wins, as with
docker and dagster). Empty counts as unset. Functions, not constants: tests and `roz demo` change the environment.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values, load_dotenv

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PARTITIONS_START = "2026-11-01"  # first partition when ROZ_PARTITIONS_START is unset (UTC)
PARTITION_GRAINS = ("minute", "hour")
EXECUTORS = ("in_process", "multiprocess", "celery")
S3_MAX_ATTEMPTS = 5  # boto's retries (standard mode) before an S3 error reaches the step's RetryPolicy


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


# Read below besides the ROZ_* variables.
OTHER_VARIABLES = ("DATABASE_URL", "DAGSTER_HOME", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")


def roz_variables_set() -> list[str]:
    """The variables of the environment this module reads: what to unset for a folder's `.env` alone to count (the
    demo's)."""
    return sorted(name for name in os.environ if name.startswith("ROZ_") or name in OTHER_VARIABLES)


def export_dotenv() -> None:
    """Copy `./.env`'s values into the environment where unset: Dagster's EnvVar reads the environment only
    (`dagster dev` loads .env the same way)."""
    load_dotenv(Path.cwd() / ".env", override=False)

def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env(name, default)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


# -- where things are -----------------------------------------------------------------------------------------

def database_url() -> str | None:
    """`DATABASE_URL`: PostgreSQL for the heatmaps; None means the embedded server under `$ROZ_HOME/pgdata`."""
    return env("DATABASE_URL")


def db_connect_timeout() -> int:
    """Seconds a PostgreSQL connection may take to open (`ROZ_DB_CONNECT_TIMEOUT`, default 10)."""
    return int(_positive("ROZ_DB_CONNECT_TIMEOUT", "10"))


def schema_owner_database_url() -> str | None:
    """`ROZ_SCHEMA_OWNER_DATABASE_URL`: the tables' owner for migrations and VACUUM when DATABASE_URL is a
    least-privilege writer (db/roles.sql); None means DATABASE_URL itself."""
    return env("ROZ_SCHEMA_OWNER_DATABASE_URL")


def roz_home() -> Path:
    """Local state: embedded database, demo footage, rendered images (`ROZ_HOME`, default `./.roz`)."""
    return Path(env("ROZ_HOME", ".roz")).resolve()


def dagster_home() -> Path:
    """`DAGSTER_HOME`, Dagster's instance folder; where unset, `roz materialize` and `roz demo` keep a local instance
    under ROZ_HOME."""
    return Path(env("DAGSTER_HOME") or roz_home() / "dagster").resolve()


PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # db/migrations, copied in by setup.py


def migrations_dir() -> Path:
    """The SQL migrations: `ROZ_MIGRATIONS_DIR`, else `db/migrations/` of the checkout Roz runs from, else the copy
    installed with the package."""
    checkout = REPO_ROOT / "db" / "migrations"
    default = checkout if checkout.is_dir() else PACKAGED_MIGRATIONS
    return Path(env("ROZ_MIGRATIONS_DIR", str(default))).resolve()


def cameras_file() -> Path:
    """The camera registry (`ROZ_CAMERAS_FILE`, default `./cameras.yaml`)."""
    return Path(env("ROZ_CAMERAS_FILE", "cameras.yaml")).resolve()


@dataclass(frozen=True)
class ClipStoreAddress:
    """Where clips are: a bucket (`bucket` set) or a local folder (`root`)."""

    root: Path
    bucket: str | None
    prefix: str
    endpoint_url: str | None  # AWS_ENDPOINT_URL: MinIO and other S3-compatible stores
    region: str | None


def clip_layout() -> str:
    """`ROZ_CLIP_LAYOUT`: how keys name camera and time: `roz` (default), `frigate` or a template (clips/layout.py)."""
    return env("ROZ_CLIP_LAYOUT", "roz")


def clip_timezone() -> str:
    """`ROZ_CLIP_TIMEZONE`: the IANA time zone of the times in clip names (default UTC)."""
    return env("ROZ_CLIP_TIMEZONE", "UTC")


def clip_store_address() -> ClipStoreAddress:
    """`ROZ_S3_BUCKET` + `ROZ_S3_PREFIX` (and the standard `AWS_*` variables), else the folder `ROZ_VIDEO_ROOT`
    (default `$ROZ_HOME/videos`)."""
    return ClipStoreAddress(
        root=Path(env("ROZ_VIDEO_ROOT") or roz_home() / "videos").resolve(),
        bucket=env("ROZ_S3_BUCKET"),
        prefix=env("ROZ_S3_PREFIX", ""),
        endpoint_url=env("AWS_ENDPOINT_URL"),
        region=env("AWS_REGION") or env("AWS_DEFAULT_REGION"),
    )


# -- Dagster --------------------------------------------------------------------------------------------------

def partitions_start() -> str:
    """The first partition's UTC date, `YYYY-MM-DD` (`ROZ_PARTITIONS_START`)."""
    return env("ROZ_PARTITIONS_START", DEFAULT_PARTITIONS_START)


def partition_grain() -> str:
    """`hour` (default) or `minute`: the size of a Dagster partition (`ROZ_PARTITION_GRAIN`); rows are per minute
    either way. Minute partitions pass Dagster's 100,000 per asset after ~70 days and are not followed live."""
    return _choice("ROZ_PARTITION_GRAIN", "hour", PARTITION_GRAINS)


def _positive(name: str, default: str) -> float:
    value = env(name, default)
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def late_clip_days() -> float:
    """How late a clip may land and still be found by `new_clips_sensor` (`ROZ_LATE_CLIP_DAYS`, default 7): the
    window the clip inventory watches."""
    return _positive("ROZ_LATE_CLIP_DAYS", "7")


def s3_events_queue_url() -> str | None:
    """`ROZ_S3_EVENTS_QUEUE_URL`: the SQS queue receiving the bucket's `s3:ObjectCreated:*` / `s3:ObjectRemoved:*`
    notifications; new clips are found from it instead of by listing. None: recent hours are listed."""
    return env("ROZ_S3_EVENTS_QUEUE_URL")


def reconcile_hours() -> float:
    """Every how many hours the whole late window has been listed again, a slice per tick (`ROZ_RECONCILE_HOURS`,
    default 6): what event notifications or folder marks missed is found within this time."""
    return _positive("ROZ_RECONCILE_HOURS", "6")


def sites() -> tuple[str, ...] | None:
    """`ROZ_SITES`: the registry's sites this code location serves (comma-separated); None: every camera. Several
    code locations over one registry split its cameras by site (deploy/README.md)."""
    value = env("ROZ_SITES")
    names = tuple(dict.fromkeys(name.strip() for name in (value or "").split(",") if name.strip()))
    return names or None


def max_runs_per_tick() -> int:
    """How many catch-up runs one `new_clips_sensor` tick asks for at most, newest first (`ROZ_MAX_RUNS_PER_TICK`,
    default 50): a backlog (a new camera with days of footage, a store back after an outage) becomes runs over
    several ticks, and the daemon's other sensors keep ticking meanwhile."""
    return max(1, int(_positive("ROZ_MAX_RUNS_PER_TICK", "50")))


def sensor_interval_seconds() -> int:
    """Seconds between `new_clips_sensor` ticks (`ROZ_SENSOR_INTERVAL_SECONDS`, default 30)."""
    return int(_positive("ROZ_SENSOR_INTERVAL_SECONDS", "30"))


def follow_cameras_per_run() -> int:
    """How many cameras one run following the hour in progress takes (`ROZ_FOLLOW_CAMERAS_PER_RUN`, default 10): one
    process decodes them one after the other, so keep it below what one core extracts live (bench/live.py)."""
    return max(1, int(_positive("ROZ_FOLLOW_CAMERAS_PER_RUN", "10")))


def executor() -> str:
    """`in_process` (default: a run's one step in the run's process), `multiprocess` (a process per step) or
    `celery` (steps on Celery workers) (`ROZ_EXECUTOR`)."""
    return _choice("ROZ_EXECUTOR", "in_process", EXECUTORS)


CELERY_BROKER, CELERY_BACKEND = "ROZ_CELERY_BROKER", "ROZ_CELERY_BACKEND"
DEFAULT_CELERY_BROKER = "pyamqp://guest@127.0.0.1:5672//"
DEFAULT_CELERY_BACKEND = "redis://127.0.0.1:6379/0"


def celery_is_set(name: str) -> bool:
    """Whether `ROZ_CELERY_BROKER` / `ROZ_CELERY_BACKEND` is set (then each process reads it itself, so a
    password never lands in run config); unset means the local RabbitMQ / Redis defaults above."""
    return env(name) is not None


def retention_cron() -> str:
    """When `retention_cleanup_job` runs (`ROZ_RETENTION_CRON`, default 00:05 UTC: just after the day boundary, so
    that what expires is nearly all whole days, dropped, and only minutes of rows are deleted one by one)."""
    return env("ROZ_RETENTION_CRON", "5 0 * * *")


def vacuum_cron() -> str:
    """When `vacuum_analyze_job` runs (`ROZ_VACUUM_CRON`, default 00:35 UTC, after the retention)."""
    return env("ROZ_VACUUM_CRON", "35 0 * * *")


def gap_check_hours() -> float:
    """How far back the `recent_gaps` check looks (`ROZ_GAP_CHECK_HOURS`, default 6)."""
    return _positive("ROZ_GAP_CHECK_HOURS", "6")


def removed_camera_retention_days() -> float | None:
    """`ROZ_REMOVED_CAMERA_RETENTION_DAYS`: the retention window for cameras no longer in the registry. Unset (the
    default), their rows are kept and reported by the retention job; set, they are deleted like any camera's."""
    return _positive("ROZ_REMOVED_CAMERA_RETENTION_DAYS", "1") if env("ROZ_REMOVED_CAMERA_RETENTION_DAYS") else None


def alert_webhook_url() -> str | None:
    """`ROZ_ALERT_WEBHOOK_URL`: where alerts are POSTed as `{"text": ...}`; None: alerts go to the log only."""
    return env("ROZ_ALERT_WEBHOOK_URL")


def mqtt_url() -> str | None:
    """`ROZ_MQTT_URL`: an MQTT broker, `mqtt://user@host:1883` (`mqtts://` for TLS): recorder liveness from Frigate's
    status topics, alerts and Home Assistant discovery published there. None: no MQTT."""
    return env("ROZ_MQTT_URL")


def mqtt_password() -> str | None:
    """`ROZ_MQTT_PASSWORD`: the password of ROZ_MQTT_URL's user (kept out of the URL)."""
    return env("ROZ_MQTT_PASSWORD")


def frigate_topic_prefix() -> str:
    """`ROZ_FRIGATE_TOPIC_PREFIX`: Frigate's `mqtt: topic_prefix` (default `frigate`)."""
    return env("ROZ_FRIGATE_TOPIC_PREFIX", "frigate")


def mqtt_discovery_prefix() -> str:
    """`ROZ_MQTT_DISCOVERY_PREFIX`: Home Assistant's MQTT discovery prefix (default `homeassistant`)."""
    return env("ROZ_MQTT_DISCOVERY_PREFIX", "homeassistant")


def dagster_url() -> str | None:
    """`ROZ_DAGSTER_URL`: the Dagster UI's address (e.g. http://127.0.0.1:3000): the explorer's camera pages link to
    the camera's asset there."""
    return env("ROZ_DAGSTER_URL")


def explore_url() -> str | None:
    """`ROZ_EXPLORE_URL`: the explorer's address (e.g. http://127.0.0.1:8080): each camera asset links to its page."""
    return env("ROZ_EXPLORE_URL")
