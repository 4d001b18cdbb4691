"""S3 and SQS for bench/ingest.py: moto's server in this process, its requests counted, and the event discovery over
it."""

import logging
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import boto3
from botocore.config import Config
from common import MOTO_CREDENTIALS
from ingest_world import (
    FRIGATE,
    LATE_WINDOW,
    PREFILL_BATCH,
    PREFIX,
    PUT_THREADS,
    RECONCILE_HOURS,
    SEGMENT,
    Clock,
    every,
    keys,
)

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.s3_discovery import EventDiscovery
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.registry import Camera
from roz_pipeline.storage import inventory
from roz_pipeline.storage.inventory import ClipRead, StoredClip


class Requests:
    """Botocore hooks counting HTTP requests by operation (`before-send`) and the seconds spent waiting on them
    (until `response-received`); the clients' requests are sequential."""

    def __init__(self):
        self.counts = Counter()
        self.waited = 0.0
        self._sent_at = None

    def __call__(self, event_name: str = "", **kwargs):
        self.counts[event_name.rsplit(".", 1)[-1]] += 1  # before-send.<service>.<Operation>
        self._sent_at = time.perf_counter()
        return None  # no response of our own: the request is sent

    def received(self, **kwargs) -> None:
        if self._sent_at is not None:
            self.waited += time.perf_counter() - self._sent_at
            self._sent_at = None

    def snapshot(self) -> Counter:
        return Counter(self.counts)


class Moto:
    """moto's S3 + SQS server in this process; bucket() makes a bucket whose object notifications go to a queue."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # else an access-log line per request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.buckets = 0
        self.sqs = self.client("sqs")

    def client(self, service: str, counter: Requests | None = None):
        client = boto3.client(service, endpoint_url=self.endpoint,
                              config=Config(max_pool_connections=2 * PUT_THREADS), **MOTO_CREDENTIALS)
        if counter is not None:
            client.meta.events.register("before-send", counter)
            client.meta.events.register("response-received", counter.received)
        return client

    def bucket(self) -> tuple[str, str]:
        """(bucket, queue URL): a fresh bucket notifying a fresh queue of every object created or removed (as
        roz_pipeline_tests/test_clip_inventory.py sets it up)."""
        self.buckets += 1
        bucket, s3 = f"roz-bench-{self.buckets}", self.client("s3")
        s3.create_bucket(Bucket=bucket)
        queue = self.sqs.create_queue(QueueName=f"roz-bench-clips-{self.buckets}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
        return bucket, queue

    def queued(self, queue: str) -> int:
        """Messages in the queue, in flight included (not counted as requests of the discovery)."""
        found = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return int(found["ApproximateNumberOfMessages"]) + int(found["ApproximateNumberOfMessagesNotVisible"])

    def close(self) -> None:
        self.server.stop()


def events_discovery(moto: Moto, group: list[Camera], clock: Clock) -> tuple[EventDiscovery, Requests, str, str]:
    """(discovery, its request counter, bucket, queue) over a fresh bucket with notifications."""
    bucket, queue = moto.bucket()
    requests = Requests()
    catalog = ClipCatalog(S3ClipStore(moto.client("s3", requests), bucket, PREFIX), FRIGATE, group)
    discovery = EventDiscovery(catalog, RECONCILE_HOURS, LATE_WINDOW, moto.client("sqs", requests), queue, clock)
    return discovery, requests, bucket, queue


def put_segments(client, bucket: str, segments: list[tuple[str, datetime]]) -> float:
    """Put each (camera name, start) as an empty object, each put sending an event; seconds taken."""
    started = time.perf_counter()
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=b""),
                      keys(segments)))
    return time.perf_counter() - started


def prefill(conn, store_id: str, names: list[str], starts: list[datetime], observed_at: datetime) -> int:
    """The history as inventory rows (upsert_clips, as if discovered), read to their end; the number of rows."""
    segments = every(names, starts)
    for first in range(0, len(segments), PREFILL_BATCH):
        part = segments[first:first + PREFILL_BATCH]
        clips = [StoredClip(key, name, start, 0, "prefilled", start + SEGMENT)
                 for (name, start), key in zip(part, keys(part))]
        inventory.upsert_clips(conn, store_id, clips, observed_at)
        inventory.mark_read(conn, store_id, [ClipRead(clip.key, clip.version, None) for clip in clips])
    return len(segments)


