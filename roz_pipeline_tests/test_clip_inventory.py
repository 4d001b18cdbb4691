"""The clip inventory: discovery that costs what changed in the store (local folder marks, S3 listings, S3 event
notifications through SQS) and the new-clips scan asked of it, over a week of Frigate history. Real PostgreSQL,
real files, moto's server for S3 and SQS. The work is counted (folders listed, keys parsed, files stat'ed), never
timed."""

import json
import os
import shutil
import time
from datetime import datetime, timedelta, timezone

import pytest

from roz_pipeline.clips.catalog import ClipCatalog, ClipProblem
from roz_pipeline.clips.discovery import DiscoveryCounts
from roz_pipeline.clips.folder_discovery import SWEEP_PERIOD, FolderDiscovery
from roz_pipeline.clips.inventory import ClipInventory
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.s3_discovery import EventDiscovery, ListingDiscovery
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.storage import clip_problems, inventory
from roz_pipeline.usecases.new_clips import NewClipsCursor, PartitionSlot, scan_new_clips
from roz_pipeline_tests.helpers import T0, clip_key, minute_sources

UTC = timezone.utc
FRIGATE = ClipLayout.from_setting("frigate")
NOW = datetime(2026, 11, 27, 12, 0, 25, tzinfo=UTC)  # every tick's clock: the test's own, whatever the day it runs
SEGMENT = timedelta(seconds=10)
SECOND = timedelta(seconds=1)
CAMERAS = [Camera("front", source_name="Front"), Camera("back", source_name="Back")]


def _segment(root, camera: str, start: datetime, source=None):
    """A Frigate segment `camera` recorded from `start`: an empty placeholder (the scan never opens a clip) whose
    mtime is its end, as a recorder leaves it, or a copy of `source`."""
    path = root / FRIGATE.key(camera, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        path.touch()
        end = (start + SEGMENT).timestamp()
        os.utime(path, (end, end))
    else:
        shutil.copyfile(source, path)
    return path


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Seven days of 10 s segments of two cameras up to NOW's minute: 120,960 files in 336 camera-hour folders."""
    root = tmp_path_factory.mktemp("week") / "recordings"
    moment = floor(NOW, MINUTE) - 7 * DAY
    while moment < floor(NOW, MINUTE):
        for camera in ("Front", "Back"):
            _segment(root, camera, moment)
        moment += SEGMENT
    return root


@pytest.fixture
def recordings(week, tmp_path):
    """This test's own copy of the week (hard links)."""
    copy = tmp_path / "recordings"
    shutil.copytree(week, copy, copy_function=os.link)
    return copy


def _folders(root, layout=FRIGATE, cameras=CAMERAS, clock=None) -> FolderDiscovery:
    return FolderDiscovery(ClipCatalog(LocalClipStore(root), layout, cameras), reconcile_hours=6, late_window=7 * DAY,
                           clock=clock)


def _slot(camera_id: str, moment: datetime) -> PartitionSlot:
    hour = floor(moment, HOUR)
    return PartitionSlot(f"{hour:%Y-%m-%d-%H:%M}", hour, hour + HOUR)


def _scan(discovery, conn, cursor, now=NOW, max_partitions=50):
    return scan_new_clips(discovery, conn, [c.camera_id for c in CAMERAS], cursor, _slot, "hour", now, 90 * SECOND,
                          max_partitions)


def _read_all(discovery, conn, now=NOW):
    """As if runs had read every clip held (to its end)."""
    clips = ClipInventory(discovery, conn, clock=lambda: now).clips_starting([c.camera_id for c in CAMERAS],
                                                                             now - 8 * DAY, now + HOUR)
    ClipInventory(discovery, conn).mark_read({clip.key: (clip.version, None) for listed in clips.clips.values()
                                              for clip in listed})


def _fresh_counts(discovery) -> DiscoveryCounts:
    discovery.counts = DiscoveryCounts()
    return discovery.counts


def test_a_tick_with_nothing_new_parses_no_key_whatever_the_history(recordings, db):
    # listed well after the fixture made its folders: none changed within the 3 s a folder is listed again for
    discovery = _folders(recordings, clock=lambda: datetime.now(UTC) + HOUR)
    first = _scan(discovery, db, NewClipsCursor())
    assert discovery.counts.keys_parsed == discovery.counts.changed == 2 * 7 * 24 * 360  # the first tick takes it in
    assert sum(map(len, first.read.values())) == 50  # a backlog: at most 50 runs per tick, newest first
    assert max(first.read["front"]) == "2026-11-27-10:00"  # 11:00 settles at 12:01:30
    _read_all(discovery, db)

    counts = _fresh_counts(discovery)
    second = _scan(discovery, db, first.cursor, now=NOW + 30 * SECOND)
    assert second.read == {}
    # the recent hours' folders (09:00-12:00: 4 hour folders, 6 camera folders) and the 16 older hours that 30 s of
    # the 5-minute sweep earn (16 hour folders, 32 camera folders), not the week's 504, stat'ed; none listed, no
    # key parsed, no file stat'ed
    assert (counts.listings, counts.keys_parsed, counts.files_checked) == (0, 0, 0)
    assert counts.folders_checked == 10 + 16 * 3

    _segment(recordings, "Front", floor(NOW, MINUTE) - 5 * SECOND)  # into 11:00, which has not settled yet
    counts = _fresh_counts(discovery)
    third = _scan(discovery, db, second.cursor, now=NOW + 60 * SECOND)
    assert (counts.listings, counts.keys_parsed, counts.files_checked) == (1, 1, 1) and third.read == {}
    assert counts.keys_compared == 1  # appended after the folder's last file: its 359 others are not compared

    # a file removed and an older name added: as many files as before, but not the same ones: compared in full
    hour = floor(NOW, HOUR) - 2 * HOUR
    (recordings / FRIGATE.key("Front", hour + 30 * MINUTE)).unlink()
    _segment(recordings, "Front", hour + 30 * MINUTE + 5 * SECOND)
    counts = _fresh_counts(discovery)
    discovery.refresh(db, ["front"], hour, hour + HOUR, NOW + 90 * SECOND)  # a run's look at that hour
    assert (counts.listings, counts.keys_compared, counts.changed, counts.gone) == (1, 360, 1, 1)


def test_a_run_of_some_cameras_looks_only_at_their_own_folders(recordings, db):
    hour = floor(NOW, HOUR) - HOUR
    _segment(recordings, "Side", hour + 5 * SECOND)  # another run's camera, in the same Frigate hour folder
    discovery = _folders(recordings)  # the run's cameras: front and back

    discovery.refresh(db, ["front", "back"], hour, hour + HOUR, NOW)

    assert discovery.new_problems() == []  # Side's folder is not listed: not "a camera not in the registry"
    assert inventory.clips_starting(db, discovery.store_id, ["Side"], hour, hour + HOUR) == []
    assert len(inventory.clips_starting(db, discovery.store_id, ["Front", "Back"], hour, hour + HOUR)) == 720


def test_history_found_at_once_is_taken_in_over_several_ticks(recordings, db):
    discovery = _folders(recordings)
    discovery.new_keys_per_tick = 20_000  # the default (200,000) takes this week in at once
    cursor, moment, parsed = NewClipsCursor(), NOW, []
    while sum(parsed) < 2 * 7 * 24 * 360 and len(parsed) < 20:
        before = discovery.counts.keys_parsed
        tick = _scan(discovery, db, cursor, now=moment)
        parsed.append(discovery.counts.keys_parsed - before)
        cursor, moment = tick.cursor, moment + 30 * SECOND
    assert sum(parsed) == 2 * 7 * 24 * 360  # the whole week, each key once
    # a tick: the recent hours (09:00-12:00, 2,160 keys), then old hours until the budget is spent (720 an hour)
    assert len(parsed) > 1 and max(parsed) <= 2_160 + 20_000 + 720


def test_a_segment_six_days_late_asks_for_its_hour_once_also_with_an_old_mtime(recordings, db):
    discovery = _folders(recordings)
    settled = _scan(discovery, db, NewClipsCursor())
    _read_all(discovery, db)
    settled = _scan(discovery, db, settled.cursor, now=NOW + 30 * SECOND)

    front_hour = floor(NOW - 6 * DAY, HOUR)
    _segment(recordings, "Front", front_hour + 5 * MINUTE + 3 * SECOND)  # into an old hour folder
    # as rsync -a leaves a folder it copied into: a file with an old mtime, the folder's mtime set back
    back_hour = front_hour + 3 * HOUR
    folder = (recordings / FRIGATE.key("Back", back_hour)).parent
    before = folder.stat()
    _segment(recordings, "Back", back_hour + 30 * MINUTE + 5 * SECOND)
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert folder.stat().st_mtime_ns == before.st_mtime_ns

    counts = _fresh_counts(discovery)
    cursor, moment, asked = settled.cursor, NOW + 30 * SECOND, {}
    while moment < NOW + 30 * SECOND + SWEEP_PERIOD:  # ticks every 30 s for one turn of the sweep
        moment += 30 * SECOND
        late = _scan(discovery, db, cursor, now=moment)
        if late.read:
            redelivered = _scan(discovery, db, cursor, now=moment)
            assert redelivered.read == late.read  # the same inputs: the same run keys
        for camera, partitions in late.read.items():
            asked.setdefault(camera, []).extend(partitions)
        cursor = late.cursor
    # each found within the sweep's turn and asked for once
    assert asked == {"front": [f"{front_hour:%Y-%m-%d-%H:%M}"], "back": [f"{back_hour:%Y-%m-%d-%H:%M}"]}
    assert counts.keys_parsed == 2 and counts.reconciled == 0  # found by the sweep, not by reconciliation


def test_a_backlog_becomes_runs_over_several_ticks_newest_first(tmp_path, db):
    root = tmp_path / "recordings"
    for hour in range(10):
        _segment(root, "Front", T0 + hour * HOUR)
        _segment(root, "Back", T0 + hour * HOUR)
    discovery = _folders(root)
    now = T0 + DAY
    first = _scan(discovery, db, NewClipsCursor(), now=now, max_partitions=4)
    hours = [f"{T0 + h * HOUR:%Y-%m-%d-%H:%M}" for h in range(10)]
    assert {camera: sorted(keys) for camera, keys in first.read.items()} == {"back": hours[8:], "front": hours[8:]}
    second = _scan(discovery, db, first.cursor, now=now + 30 * SECOND, max_partitions=4)
    assert {camera: sorted(keys) for camera, keys in second.read.items()} == {"back": hours[6:8],
                                                                               "front": hours[6:8]}
    assert len(json.dumps(second.cursor.to_json())) < 2000  # what was asked for and not read yet, and no more


def _touch(root, camera, minute):
    path = root / clip_key(camera, minute)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_problems_are_recorded_once_and_end_when_their_key_is_gone_or_their_camera_registered(tmp_path, db):
    _touch(tmp_path, "garage", T0)  # not registered
    (tmp_path / "stray.txt").write_text("hi")
    _touch(tmp_path, "lobby", T0)
    (tmp_path / "lobby" / "notes.txt").write_text("hi")
    catalog = ClipCatalog(LocalClipStore(tmp_path), ClipLayout.from_setting("roz"), [Camera("lobby")])
    discovery = FolderDiscovery(catalog, reconcile_hours=6, late_window=7 * DAY)

    def scan(cursor, now=T0 + HOUR, slot=_slot):
        return scan_new_clips(discovery, db, ["lobby"], cursor, slot, "hour", now, 90 * SECOND, 50)

    first = scan(NewClipsCursor())
    assert sorted(first.new_problems) == ["garage/: camera is not in the registry",
                                          "lobby/notes.txt: not inside a folder of the layout "
                                          "{camera}/%Y-%m-%d/%H-%M.<mp4|mkv|avi|mov>",
                                          "stray.txt: not inside a camera folder"]
    assert scan(first.cursor).new_problems == []
    assert clip_problems.open_problems(db, catalog.store.describe(), ["lobby"], 10)[1] == 3
    (tmp_path / "stray.txt").unlink()
    scan(first.cursor, now=T0 + HOUR + 30 * SECOND)
    assert clip_problems.open_problems(db, catalog.store.describe(), ["lobby"], 10)[1] == 2  # gone: no problem
    assert clip_problems.open_problems(db, catalog.store.describe(), ["lobby", "garage"], 10)[1] == 1  # registered

    early = scan_new_clips(discovery, db, ["lobby"], NewClipsCursor(), lambda camera, moment: None, "hour",
                           T0 + 2 * HOUR, 90 * SECOND, 50)
    assert early.read == {}
    assert early.new_problems == [f"{clip_key('lobby', T0)}: before the camera's first partition "
                                  "(ROZ_PARTITIONS_START or retention)"]


def test_a_clip_running_into_the_next_hour_asks_for_it_after_the_first_hour_was_read(tmp_path, db):
    from roz_pipeline.usecases.processing import process_window
    from roz_pipeline_tests.recorders import record

    layout = ClipLayout.from_setting("{camera}/%Y-%m-%d_%H-%M-%S")
    start = T0 + 59 * MINUTE + 30 * SECOND  # 60 s: half in 14:00, half in 15:00
    record(tmp_path / "cam" / f"{start:%Y-%m-%d_%H-%M-%S}.mp4", 60)
    camera = Camera("cam")
    discovery = _folders(tmp_path, layout, [camera])

    def scan(cursor):
        return scan_new_clips(discovery, db, ["cam"], cursor, _slot, "hour", T0 + 3 * HOUR, 90 * SECOND, 50)

    first = scan(NewClipsCursor())
    assert list(first.read["cam"]) == ["2026-11-20-14:00"]
    clips = ClipInventory(discovery, db, clock=lambda: T0 + 3 * HOUR)
    clips.mark_read(process_window(camera, clips, db, T0, T0 + HOUR).reads)
    second = scan(first.cursor)
    assert list(second.read["cam"]) == ["2026-11-20-15:00"]  # the clip was read up to 15:00 only
    clips.mark_read(process_window(camera, clips, db, T0 + HOUR, T0 + 2 * HOUR).reads)
    assert scan(second.cursor).read == {}


def test_a_run_listing_its_window_keeps_every_clip_of_the_late_window_in_the_folders_it_lists(tmp_path, db):
    layout = ClipLayout.from_setting("{camera}/%Y-%m-%d_%H-%M-%S")  # one folder per camera: every hour in it
    keys = [f"cam/{start:%Y-%m-%d_%H-%M-%S}.mp4" for start in (T0 - 50 * MINUTE, T0 + 59 * MINUTE)]
    for key in keys:
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"x")
    discovery = _folders(tmp_path, layout, [Camera("cam")])

    window = ClipInventory(discovery, db, clock=lambda: T0 + 3 * HOUR).clips_for_window(["cam"], T0 + HOUR,
                                                                                       T0 + 2 * HOUR)

    assert [clip.key for clip in window.clips["cam"]] == keys[1:]  # the clip running into the window
    # the folder's marks now say it was listed: what the sensor's late window needs from it is in the inventory
    held = inventory.clips_starting(db, discovery.store_id, ["cam"], T0 - DAY, T0 + DAY)
    assert [clip.key for clip in held] == keys


# -- S3 ---------------------------------------------------------------------------------------------------------

BUCKET, PREFIX, QUEUE = "frigate", "site-a", "roz-clips"


@pytest.fixture
def s3(moto_s3):
    """A fresh bucket whose object notifications go to a fresh SQS queue (1 s visibility timeout)."""
    client = moto_s3.client("s3")
    sqs = moto_s3.client("sqs")
    client.create_bucket(Bucket=BUCKET)
    queue = sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    yield client, sqs, queue
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)
    sqs.delete_queue(QueueUrl=queue)


def _put(client, camera: str, start: datetime, body=b"segment") -> str:
    key = FRIGATE.key(camera, start)
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=body)
    return key


class CrashBeforeDelete(EventDiscovery):
    """Dies after the inventory committed a batch and before the queue heard of it: the messages come back."""

    def _delete(self, messages):
        return None  # the process died here: the queue never hears of the batch


def _events(client, sqs, queue, kind=EventDiscovery):
    return kind(ClipCatalog(S3ClipStore(client, BUCKET, PREFIX), FRIGATE, CAMERAS), 6, 7 * DAY, sqs, queue)


def _held(db, discovery) -> dict[str, str]:
    rows = inventory.clips_starting(db, discovery.store_id, ["Front", "Back"], NOW - 8 * DAY, NOW + DAY)
    return {row.key: row.version for row in rows}


def test_s3_events_skip_the_test_event_apply_duplicates_and_redeliveries_once_and_mark_removed_clips(s3, db):
    client, sqs, queue = s3
    crashing = _events(client, sqs, queue, CrashBeforeDelete)
    key = _put(client, "Front", NOW - 6 * DAY)  # six days late, by event
    crashing.drain(db)
    assert crashing.counts.messages == 2 and crashing.counts.changed == 1  # the s3:TestEvent, then the clip
    assert crashing.counts.new_problems == []
    (body,) = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2,
                                                         MaxNumberOfMessages=10).get("Messages", [])
               if "Records" in m["Body"]]  # not deleted: it comes back after the visibility timeout
    sqs.send_message(QueueUrl=queue, MessageBody=body)  # and S3 delivered it twice

    discovery = _events(client, sqs, queue)
    time.sleep(1.1)
    discovery.drain(db)
    assert discovery.counts.messages == 3 and discovery.counts.changed == 0  # redelivered, duplicated: no change
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages") is None  # deleted now
    assert list(_held(db, discovery)) == [key]

    client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")
    other = _put(client, "Back", NOW - DAY)
    discovery.drain(db)
    assert discovery.counts.gone == 1 and list(_held(db, discovery)) == [other]

    # an event older than what the inventory saw, delivered late, changes nothing
    record = json.loads(body)["Records"][0]
    record["s3"]["object"].update(key=f"{PREFIX}/{other}", eTag="0" * 32)
    record["eventTime"] = "2026-01-01T00:00:00.000Z"
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Records": [record]}))
    before = _held(db, discovery)
    discovery.drain(db)
    assert _held(db, discovery) == before and discovery.counts.messages == 6


def test_s3_event_keys_are_decoded_and_keys_off_the_layout_are_problems(s3, db):
    client, sqs, queue = s3
    discovery = _events(client, sqs, queue)
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/2026-11-26/10/Front Door/00.13.mp4", Body=b"x")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/notes/a+b.txt", Body=b"x")
    discovery.drain(db)
    assert sorted(p.key for p in discovery.new_problems()) == ["2026-11-26/10/Front Door/00.13.mp4",
                                                                "notes/a+b.txt"]


def test_an_unreachable_queue_is_a_clear_error_and_recent_hours_are_still_listed(s3, db):
    client, sqs, queue = s3
    key = _put(client, "Front", NOW - 10 * MINUTE)
    discovery = _events(client, sqs, queue.replace(QUEUE, "no-such-queue"))
    scan = _scan(discovery, db, NewClipsCursor())
    assert len(scan.errors) == 1 and "no-such-queue: cannot receive" in scan.errors[0]
    assert list(_held(db, discovery)) == [key]


def test_a_lost_message_is_found_by_reconciliation(s3, db):
    client, sqs, queue = s3
    discovery = _events(client, sqs, queue)
    cursor = _scan(discovery, db, NewClipsCursor()).cursor  # the TestEvent; reconciliation starts
    lost = _put(client, "Back", NOW - 5 * DAY)
    sqs.purge_queue(QueueUrl=queue)
    moment = NOW
    for _ in range(2 * 6 * 12):  # ticks every 5 minutes for a reconcile period (6 h), and as many again
        moment += 5 * MINUTE
        cursor = _scan(discovery, db, cursor, now=moment).cursor
        if lost in _held(db, discovery):
            break
    assert lost in _held(db, discovery)
    assert discovery.counts.reconciled == 1 and moment - NOW <= 6 * HOUR + 5 * MINUTE


def test_a_bucket_without_events_lists_the_recent_hours_each_tick_and_the_late_window_in_slices(s3, db):
    client, sqs, queue = s3
    recent = _put(client, "Front", NOW - 30 * MINUTE)
    discovery = ListingDiscovery(ClipCatalog(S3ClipStore(client, BUCKET, PREFIX), FRIGATE, CAMERAS), 6, 7 * DAY)
    cursor = _scan(discovery, db, NewClipsCursor()).cursor
    assert recent in _held(db, discovery)
    counts = _fresh_counts(discovery)
    _scan(discovery, db, cursor, now=NOW + 30 * SECOND)
    assert counts.listings == 4  # the recent two hours' prefixes: 10:00-12:00, and 09:00 for a clip running into 10:00


def test_a_segment_six_days_late_in_s3_arrives_by_event_and_gets_one_run_that_reads_it(s3, db, make_defs, tmp_path,
                                                                                       instance):
    from dagster import build_sensor_context

    from roz_pipeline_tests.helpers import KEEP, execute_request
    from roz_pipeline_tests.recorders import record

    client, sqs, queue = s3
    defs = make_defs({"front": f"source_name: Front, {KEEP}"}, store="s3", layout="frigate", bucket=BUCKET,
                     prefix=PREFIX, events_queue_url=queue, clock=lambda: NOW)
    sensor = defs.resolve_sensor_def("new_clips_sensor")
    late = floor(NOW - 6 * DAY, MINUTE) + 3 * SECOND
    key = FRIGATE.key("Front", late)

    def tick(cursor=None):
        with build_sensor_context(instance=instance, definitions=defs, resources=defs.resources,
                                  cursor=cursor) as context:
            return sensor(context)

    first = tick()  # the s3:TestEvent
    client.upload_file(str(record(tmp_path / "segment.mp4", 10)), BUCKET, f"{PREFIX}/{key}")
    second = tick(first.cursor)
    (request,) = second.run_requests
    result = execute_request(defs, request, instance)
    third = tick(second.cursor)

    assert first.run_requests == [] and request.run_key.startswith(f"front:{floor(late, HOUR):%Y-%m-%d-%H:%M}:")
    assert result.success and third.run_requests == []
    (built,) = minute_sources(db, "front", floor(late, MINUTE), floor(late, MINUTE) + MINUTE)
    assert built.clip_keys == [key]


OUTSIDE = "a symbolic link leading outside the clip folder (not read)"


def test_a_key_that_links_outside_the_store_is_reported_and_never_read(tmp_path, db):
    """Front's 00.00 is a real segment, its 00.10 a link to a secret outside the store, its 00.20 a link to 00.00
    (inside: a clip like any other); Back's folder of the hour is a link to a folder outside, Side's to Front's."""
    root, outside = tmp_path / "recordings", tmp_path / "outside"
    real = _segment(root, "Front", T0)
    (outside / "secret.sh").parent.mkdir(parents=True)
    (outside / "secret.sh").write_text("PGPASSWORD=hunter2\n")
    (real.parent / "00.10.mp4").symlink_to(outside / "secret.sh")
    (real.parent / "00.20.mp4").symlink_to("00.00.mp4")
    elsewhere = _segment(outside, "Back", T0).parent
    (real.parent.parent / "Back").symlink_to(elsewhere)
    (real.parent.parent / "Side").symlink_to("Front")  # a folder link inside the store: not followed either
    hour = real.parent.parent.relative_to(root).as_posix()
    discovery = _folders(root)
    store = discovery.catalog.store

    discovery.refresh(db, ["front", "back"], T0, T0 + HOUR, now=T0 + HOUR)

    assert sorted(discovery.new_problems(), key=lambda p: p.key) == [
        ClipProblem(f"{hour}/Back/00.00.mp4", f"{hour}/Back/00.00.mp4: {OUTSIDE}"),
        ClipProblem(f"{hour}/Front/00.10.mp4", f"{hour}/Front/00.10.mp4: {OUTSIDE}")]
    assert sorted(inventory.keys_under(db, store.describe(), [f"{hour}/"])) == [f"{hour}/Front/00.00.mp4",
                                                                                 f"{hour}/Front/00.20.mp4"]
    assert [(s.key, s.problem) for s in store.keys(f"{hour}/")] == [
        (f"{hour}/Back", OUTSIDE), (f"{hour}/Front/00.00.mp4", None), (f"{hour}/Front/00.10.mp4", OUTSIDE),
        (f"{hour}/Front/00.20.mp4", None), (f"{hour}/Side", "a symbolic link to a folder (not followed)")]
    ((_, fetched),) = store.fetched([discovery.catalog.clip_of(f"{hour}/Front/00.10.mp4")])
    assert fetched.path is None and str(fetched.error).endswith(OUTSIDE)
