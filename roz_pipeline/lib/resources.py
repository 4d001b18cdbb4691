"""Dagster resources: the heatmap database and the clip store (a local folder or S3 through dagster-aws)."""

from abc import abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
from dagster import ConfigurableResource, EnvVar, ResourceDependency
from dagster_aws.s3 import S3Resource
from pydantic import Field

from roz_pipeline import settings
from roz_pipeline.clips.access import Clips
from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.discovery import ClipDiscovery
from roz_pipeline.clips.inventory import ClipInventory
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.registry import Camera
from roz_pipeline.storage.connection import connect, embedded_database_url, schema_owner_url
from roz_pipeline.storage.migrations import Migration, Migrator

_MIGRATED: set[tuple[str, str]] = set()  # databases this process has migrated (HeatmapDatabase.migrate_once)


class HeatmapDatabase(ConfigurableResource):
    """PostgreSQL holding `heatmap_minutes`: `url`, or the embedded server under `roz_home` when it is empty.
    Migrations and VACUUM run as `schema_owner_url` when it is set (storage.connection.schema_owner_url)."""

    url: str = Field(default="", description="postgresql://user:pass@host:5432/db; empty: embedded PostgreSQL")
    schema_owner_url: str = Field(default="", description="the tables' owner, for migrations and VACUUM, when url "
                                  "is a least-privilege writer (db/roles.sql); empty: url")
    roz_home: str = Field(default=".roz", description="where the embedded PostgreSQL keeps its data (pgdata/)")
    migrations_dir: str = Field(default=str(settings.migrations_dir()))
    lock_timeout: str = Field(default="10s", description="longest wait for a row or table lock; then the step "
                              "fails and its RetryPolicy tries again")

    def resolved_url(self) -> str:
        return self.url or embedded_database_url(Path(self.roz_home) / "pgdata")

    def owner_url(self) -> str:
        return schema_owner_url(self.schema_owner_url, self.resolved_url)

    def migrate(self) -> list[Migration]:
        """Apply pending migrations as the schema owner (a no-op when up to date); safe with concurrent runs."""
        return Migrator(self.owner_url(), Path(self.migrations_dir)).migrate()

    def migrate_once(self) -> None:
        """migrate(), once per process and database: what a sensor does before its first query."""
        database = (self.owner_url(), self.migrations_dir)
        if database not in _MIGRATED:
            self.migrate()
            _MIGRATED.add(database)

    @contextmanager
    def connection(self, as_schema_owner: bool = False) -> Iterator[psycopg.Connection]:
        """An autocommit connection (as the schema owner if asked): every statement (every minute written) commits
        on its own."""
        url = self.owner_url() if as_schema_owner else self.resolved_url()
        with connect(url, autocommit=True, options=f"-c lock_timeout={self.lock_timeout}") as conn:
            yield conn


class ClipStoreResource(ConfigurableResource):
    """Where clips come from and how their keys are laid out (clips.access.Clips): `catalog(cameras)` lists the
    store per camera, `inventory(conn, cameras)` reads it from the clip inventory, kept current by
    `discovery(cameras)`."""

    layout: str = Field(default="roz", description="roz, frigate, or a template such as {camera}/%Y-%m-%d_%H-%M-%S-%f")
    time_zone: str = Field(default="UTC", description="IANA time zone of the times in clip names")
    reconcile_hours: float = Field(default=6.0, description="every how many hours the whole late window is listed "
                                   "again, a slice per sensor tick")
    late_clip_days: float = Field(default=7.0, description="how late a clip may land and still be found: the window "
                                  "the clip inventory watches")

    @abstractmethod
    def store(self):
        """The clip store this resource describes (roz_pipeline.clips.stores)."""

    def events(self) -> tuple | None:
        """(an SQS client, the queue URL) of the store's notifications, when it has them."""
        return None

    def clips(self) -> Clips:
        return Clips(self.store(), ClipLayout.from_setting(self.layout, self.time_zone), self.reconcile_hours,
                     timedelta(days=self.late_clip_days), self.events())

    def catalog(self, cameras: Iterable[Camera]) -> ClipCatalog:
        return self.clips().catalog(cameras)

    def discovery(self, cameras: Iterable[Camera]) -> ClipDiscovery:
        return self.clips().discovery(cameras)

    def inventory(self, conn: psycopg.Connection, cameras: Iterable[Camera], following: bool = False,
                  clock=None) -> ClipInventory:
        return self.clips().inventory(conn, cameras, following, clock)


class LocalClips(ClipStoreResource):
    """Clips in a local folder."""

    root: str

    def store(self) -> LocalClipStore:
        return LocalClipStore(self.root)


class S3Clips(ClipStoreResource):
    """Clips in an S3 bucket under `prefix`; `s3` carries the endpoint (MinIO etc.) and credentials."""

    s3: ResourceDependency[S3Resource]
    bucket: str
    prefix: str = ""
    events_queue_url: str = Field(default="", description="SQS queue of the bucket's ObjectCreated/ObjectRemoved "
                                  "notifications; empty: new clips are found by listing")

    def store(self) -> S3ClipStore:
        return S3ClipStore(self.s3.get_client(), self.bucket, self.prefix)

    def events(self) -> tuple | None:
        return (self._sqs_client(), self.events_queue_url) if self.events_queue_url else None

    def _sqs_client(self):
        """An SQS client with the S3 resource's endpoint, region and credentials."""
        import boto3
        from botocore.config import Config

        s3 = self.s3
        session = boto3.session.Session(profile_name=s3.profile_name, aws_access_key_id=s3.aws_access_key_id,
                                        aws_secret_access_key=s3.aws_secret_access_key,
                                        aws_session_token=s3.aws_session_token, region_name=s3.region_name)
        return session.client("sqs", endpoint_url=s3.endpoint_url, use_ssl=s3.use_ssl, verify=s3.verify,
                              config=Config(retries={"max_attempts": s3.max_attempts, "mode": "standard"}))


def clip_store_from_environment() -> ClipStoreResource:
    """The clip store the environment names (settings.clip_store_address), as Dagster resources (the command line's:
    clips.access.clips_from_settings)."""
    address = settings.clip_store_address()
    layout = {"layout": settings.clip_layout(), "time_zone": settings.clip_timezone(),
              "reconcile_hours": settings.reconcile_hours(), "late_clip_days": settings.late_clip_days()}
    if not address.bucket:
        return LocalClips(root=str(address.root), **layout)
    s3 = S3Resource(endpoint_url=address.endpoint_url, region_name=address.region,
                    max_attempts=settings.S3_MAX_ATTEMPTS)
    return S3Clips(s3=s3, bucket=EnvVar("ROZ_S3_BUCKET"), prefix=address.prefix,
                   events_queue_url=settings.s3_events_queue_url() or "", **layout)


def resources_from_environment() -> dict:
    """The resources the environment describes: DATABASE_URL or embedded, migrated and vacuumed as
    ROZ_SCHEMA_OWNER_DATABASE_URL when DATABASE_URL is a least-privilege writer (db/roles.sql); ROZ_S3_BUCKET or a
    local folder."""
    settings.export_dotenv()
    owner = ({"schema_owner_url": EnvVar("ROZ_SCHEMA_OWNER_DATABASE_URL")} if settings.schema_owner_database_url()
             else {})
    database = (HeatmapDatabase(url=EnvVar("DATABASE_URL"), **owner) if settings.database_url()
                else HeatmapDatabase(roz_home=str(settings.roz_home()), **owner))
    return {"database": database, "clips": clip_store_from_environment()}
