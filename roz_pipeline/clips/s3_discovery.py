"""Discovery in S3 (and S3-compatible stores): listings by prefix, or the bucket's event notifications through SQS
(clips/discovery.py says how a tick looks)."""

import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.discovery import ClipDiscovery, Rotation
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.clips.stores import ClipStoreError, StoredKey
from roz_pipeline.storage import clip_problems, inventory

DRAIN_BUDGET = timedelta(seconds=4)  # how long one tick may spend draining the event queue
DRAIN_BATCH = 10  # SQS gives at most 10 messages per receive


class ListingDiscovery(ClipDiscovery):
    """An S3 bucket (or any S3-compatible store) listed by prefix."""

    def _look(self, conn, prefixes, reach, force) -> None:
        for prefix in prefixes:  # one prefix at a time: a listing of a busy hour stays a few pages in memory
            held = self.catalog.store.keys(prefix)
            self.counts.listings += 1
            known = inventory.keys_under(conn, self.store_id, [prefix])
            self._apply(conn, {stored.key for stored in held}, held, known,
                        clip_problems.problems_under(conn, self.store_id, [prefix]), reach, self.wall())


class EventDiscovery(ListingDiscovery):
    """An S3 bucket whose `s3:ObjectCreated:*` / `s3:ObjectRemoved:*` notifications go to an SQS queue: the tick
    and the following runs drain the queue instead of listing; reconciliation and runs over a window still list."""

    def __init__(self, catalog: ClipCatalog, reconcile_hours: float, late_window: timedelta, sqs, queue_url: str,
                 clock=None, budget: timedelta = DRAIN_BUDGET):
        super().__init__(catalog, reconcile_hours, late_window, clock)
        self.sqs, self.queue_url, self.budget = sqs, queue_url, budget
        self.store: S3ClipStore = catalog.store

    def poll(self, conn, camera_ids, start, end, now) -> None:
        self.drain(conn)

    def _recent(self, conn, camera_ids, now, since, sweep) -> Rotation:
        try:
            self.drain(conn)
        except ClipStoreError as exc:  # the queue is unreachable: list the recent hours meanwhile
            self.counts.errors.append(str(exc))
            super()._recent(conn, camera_ids, now, since, sweep)
        return sweep

    def drain(self, conn: psycopg.Connection) -> None:
        """Receive and apply messages until the queue is empty or the budget is spent; each batch is deleted
        from the queue only once the inventory has committed it."""
        deadline = time.monotonic() + self.budget.total_seconds()
        while time.monotonic() < deadline:
            messages = self._receive()
            if not messages:
                return
            self.counts.messages += len(messages)
            created, removed = {}, {}
            for message in messages:
                for record in self._records(message):
                    self._take(record, created, removed)
            with conn.transaction():
                for key, (stored, at) in sorted(created.items(), key=lambda item: item[1][1]):
                    self._apply_created(conn, stored, at)
                for key, at in removed.items():
                    self.counts.gone += len(inventory.mark_gone(conn, self.store_id, [key], at))
            self._delete(messages)

    def _take(self, record: dict, created: dict, removed: dict) -> None:
        """One S3 event record into `created` (key -> (StoredKey, time)) or `removed` (key -> time): the latest
        event of a key wins."""
        s3 = record.get("s3", {})
        if s3.get("bucket", {}).get("name") != self.store.bucket:
            return
        full_key = unquote_plus(s3.get("object", {}).get("key", ""))
        if not full_key.startswith(self.store.prefix) or full_key.endswith("/"):
            return
        key = full_key[len(self.store.prefix):]
        at = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
        latest = created[key][1] if key in created else removed.get(key)
        if latest is not None and latest > at:
            return
        created.pop(key, None)
        removed.pop(key, None)
        if record.get("eventName", "").startswith("ObjectCreated"):
            obj = s3["object"]
            created[key] = (StoredKey(key, obj.get("size", 0), str(obj.get("eTag", "")).strip('"'), at), at)
        elif record.get("eventName", "").startswith("ObjectRemoved"):
            removed[key] = at

    def _apply_created(self, conn, stored: StoredKey, at: datetime) -> None:
        """An object created, as of `at` (an event holds no listing: nothing is marked gone, any age is kept)."""
        self._apply(conn, {stored.key}, [stored], {}, set(), datetime.min.replace(tzinfo=timezone.utc), at)

    def _records(self, message: dict) -> list[dict]:
        try:
            body = json.loads(message["Body"])
        except (KeyError, ValueError):
            self.counts.errors.append(f"{self.queue_url}: message {message.get('MessageId')} is not JSON; deleted")
            return []
        if isinstance(body, dict) and isinstance(body.get("Message"), str):  # delivered through SNS
            try:
                body = json.loads(body["Message"])
            except ValueError:
                return []
        if not isinstance(body, dict):
            return []
        # The s3:TestEvent that configuring notifications sends has no Records: nothing to apply, deleted.
        return [r for r in body.get("Records", []) if isinstance(r, dict) and "eventTime" in r]

    def _receive(self) -> list[dict]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:  # a short poll never holds a tick up; messages it misses come on a later tick
            return self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=DRAIN_BATCH,
                                            WaitTimeSeconds=0).get("Messages", [])
        except (ClientError, BotoCoreError) as exc:
            raise ClipStoreError(f"S3 events queue {self.queue_url}: cannot receive ({_error(exc)})") from None

    def _delete(self, messages: list[dict]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        except (ClientError, BotoCoreError) as exc:  # committed already: they come back and change nothing
            self.counts.errors.append(f"S3 events queue {self.queue_url}: cannot delete ({_error(exc)})")



def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") or str(exc)
