"""A clip store read through a layout, as one object: the catalog of some cameras' clips, the discovery that keeps the
clip inventory current, and the inventory. The Dagster resources (lib/resources.py) and the command line
(`clips_from_settings`) build theirs here."""

from collections.abc import Iterable
from datetime import timedelta

import psycopg

from roz_pipeline import settings
from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.discovery import ClipDiscovery
from roz_pipeline.clips.inventory import ClipInventory
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.s3_discovery import EventDiscovery
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.clips.stores import ClipStore, LocalClipStore
from roz_pipeline.registry import Camera


class Clips:
    """`store` read with `layout`; the clip inventory watches `late_window` and lists all of it again every
    `reconcile_hours`. `events`: (an SQS client, the queue URL) of an S3 bucket's notifications, when it has them."""

    def __init__(self, store: ClipStore, layout: ClipLayout, reconcile_hours: float, late_window: timedelta,
                 events=None):
        self.store, self.layout, self.events = store, layout, events
        self.reconcile_hours, self.late_window = reconcile_hours, late_window

    def catalog(self, cameras: Iterable[Camera]) -> ClipCatalog:
        return ClipCatalog(self.store, self.layout, cameras)

    def discovery(self, cameras: Iterable[Camera]) -> ClipDiscovery:
        """The bucket's event notifications when it has them; else the store's own (folder marks for a local folder,
        listings for S3)."""
        catalog = self.catalog(cameras)
        if self.events:
            return EventDiscovery(catalog, self.reconcile_hours, self.late_window, *self.events)
        return self.store.discovery(catalog, self.reconcile_hours, self.late_window)

    def inventory(self, conn: psycopg.Connection, cameras: Iterable[Camera], following: bool = False,
                  clock=None) -> ClipInventory:
        return ClipInventory(self.discovery(cameras), conn, following, clock)


def clips_from_settings() -> Clips:
    """The clips the environment names (settings.clip_store_address): a local folder, or an S3 bucket with the standard
    AWS credentials (and its notifications queue, ROZ_S3_EVENTS_QUEUE_URL)."""
    address = settings.clip_store_address()
    layout = ClipLayout.from_setting(settings.clip_layout(), settings.clip_timezone())
    late_window = timedelta(days=settings.late_clip_days())
    if not address.bucket:
        return Clips(LocalClipStore(address.root), layout, settings.reconcile_hours(), late_window)
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=address.region)
    config = Config(retries={"max_attempts": settings.S3_MAX_ATTEMPTS, "mode": "standard"})
    store = S3ClipStore(session.client("s3", endpoint_url=address.endpoint_url, config=config), address.bucket,
                        address.prefix)
    queue_url = settings.s3_events_queue_url()
    events = (session.client("sqs", endpoint_url=address.endpoint_url, config=config), queue_url) if queue_url \
        else None
    return Clips(store, layout, settings.reconcile_hours(), late_window, events)
