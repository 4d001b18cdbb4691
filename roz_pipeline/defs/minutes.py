"""`heatmap_minutes/<camera_id>`: one time-partitioned asset per camera, writing the rows of its partitions' minutes.

A run reads what the store holds for its partitions, from the clip inventory after listing its window, and records
how far it read each clip there (the hour in progress is followed by `follow_cameras_job`, defs.live, which records
its partitions here too). Every partition a run processed is materialized, footage or not: an hour the camera
recorded nothing in is materialized with `minutes_written: 0` (a backfill over it ends green; `roz gaps` lists its
minutes); a missing partition means "not processed yet".
"""

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    Definitions,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    Nothing,
    Output,
    asset,
)

from roz_pipeline import settings
from roz_pipeline.core.gate import sum_decoded
from roz_pipeline.core.minutes import FULL_MINUTE_SECONDS
from roz_pipeline.core.render import render_overlay
from roz_pipeline.core.timesteps import MINUTE, runs
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import CAMERA_TAG, CLIP_STORE_KEY, SCHEMA_KEY, minutes_key
from roz_pipeline.lib.partitions import camera_backfill_policy
from roz_pipeline.lib.policies import CAMERAS_GROUP, TRANSIENT_RETRY, camera_group
from roz_pipeline.lib.resources import ClipStoreResource, HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.live import SETTLE
from roz_pipeline.usecases.processing import WindowReport, process_window

PREVIEW_WIDTH = 320  # the run's picture in the event log: a ~10 KB JPEG, so a year of runs stays small


def build_domain(served: ServedCameras) -> Definitions:
    explorer = settings.explore_url()  # read once: the environment (and .env) is not read again per camera
    return Definitions(assets=[camera_asset(camera, served.partitions[camera.camera_id], served.grain, served.clock,
                                            explorer)
                               for camera in served])


def camera_asset(camera: Camera, partitions, grain: str, now, explorer: str | None = None):
    """The asset writing `camera`'s rows: each partition covers the camera-minutes inside its time window.
    `now` says when the store was listed (replaceable in tests)."""
    # Judged by the last materialization: a followed hour materializes when it has settled.
    period = timedelta(hours=1) if grain == "hour" else timedelta(minutes=1)

    @asset(
        key=minutes_key(camera.camera_id),
        metadata={"explorer": MetadataValue.url(f"{explorer.rstrip('/')}/cameras/{camera.camera_id}")}
        if explorer else None,
        group_name=camera_group(camera.site, CAMERAS_GROUP),
        partitions_def=partitions,
        backfill_policy=camera_backfill_policy(grain),
        deps=[SCHEMA_KEY, CLIP_STORE_KEY],
        retry_policy=TRANSIENT_RETRY,
        kinds={"postgres", "video"},
        tags={CAMERA_TAG: camera.camera_id},
        freshness_policy=FreshnessPolicy.time_window(
            fail_window=period + SETTLE + timedelta(minutes=camera.stale_after_minutes + 1)),
        output_required=False,
        dagster_type=Nothing,  # rows go to PostgreSQL; nothing for an IO manager
        description=f"Per-minute motion heatmaps of camera {camera.camera_id} in heatmap_minutes",
    )
    def _camera_heatmaps(context: AssetExecutionContext, database: HeatmapDatabase,
                         clips: ClipStoreResource) -> Iterator[Output]:
        database.migrate()  # whatever launched the run, the schema is current before the first write
        window = context.partition_time_window
        with database.connection() as conn:
            clip_inventory = clips.inventory(conn, [camera], clock=now)
            report = process_window(camera, clip_inventory, conn, window.start, window.end, context.log, now)
            clip_inventory.mark_read(report.reads)  # after the minutes: a run that died is asked for again
        yield from _report(context, camera, partitions, report)

    return _camera_heatmaps


def _report(context: AssetExecutionContext, camera: Camera, partitions, report: WindowReport) -> Iterator[Output]:
    """Per-partition metadata, one picture for the run, and a failure naming every bad minute. Every partition
    processed is materialized, footage or not (its metadata says what was missing); one with a bad minute is not."""
    keys = context.partition_keys
    outcome = PartitionOutcome.of(camera, partitions, keys, report, context.log)
    if not report.bad:
        for key, metadata in outcome.materialized.items():
            context.add_asset_metadata(metadata, partition_key=key)
        yield Output(None)
        return
    # An output (or a raised error) would (un)materialize the whole range: record the partitions without a bad minute.
    for event in outcome.events(context.asset_key):
        context.log_event(event)
    raise bad_minutes_failure({camera.camera_id: report})


@dataclass
class PartitionOutcome:
    """What a run's report means for each partition it ran: the metadata of those it materializes (every one
    without a bad minute, footage or not; the run's picture on the last one with footage)."""

    materialized: dict[str, dict]

    @classmethod
    def of(cls, camera: Camera, partitions, keys: list[str], report: WindowReport, log) -> "PartitionOutcome":
        per_partition = {}
        for key in keys:
            window = partitions.time_window_for_partition_key(key)
            part = report.for_window(window.start, window.end)
            per_partition[key] = partition_metadata(part, camera)
            if part.missing and not camera.motion_only:  # one line a partition, however many minutes
                log.warning(f"{camera.camera_id} {window.start:%Y-%m-%d %H:%M}: no clip in the store for "
                            f"{len(part.missing)} minute(s) ({_ranges(part.missing)})")
        with_footage = [key for key, metadata in per_partition.items() if metadata["minutes_written"]]
        if report.summed_heatmap is not None and with_footage:
            preview = render_overlay(report.summed_heatmap, report.still, width=PREVIEW_WIDTH, image_format="jpeg")
            per_partition[with_footage[-1]]["preview"] = MetadataValue.md(
                f"Summed heatmap of the {len(report.written)} minute(s) written by this run:\n\n"
                f"![heatmap](data:image/jpeg;base64,{base64.b64encode(preview).decode()})"
            )
        bad_keys = {partitions.get_partition_key_for_timestamp(m.timestamp()) for m in report.bad}
        return cls({key: metadata for key, metadata in per_partition.items() if key not in bad_keys})

    def events(self, asset_key) -> list[AssetMaterialization]:
        return [AssetMaterialization(asset_key, partition=key, metadata=metadata)
                for key, metadata in sorted(self.materialized.items())]


def _ranges(minutes: list[datetime]) -> str:
    return ", ".join(f"{a:%H:%M}" + ("" if a == b else f"-{b:%H:%M}") for a, b in runs(minutes, MINUTE))


def bad_minutes_failure(reports: dict[str, WindowReport]) -> Failure:
    """The failure of a run whose cameras (id -> report) had bad minutes: each named with its message. Not retried:
    bad clips would fail the same way again."""
    bad = {f"{camera_id} {minute:%Y-%m-%d %H:%M}": message for camera_id, report in reports.items()
           for minute, message in sorted(report.bad.items())}
    written = sum(len(report.written) for report in reports.values())
    return Failure(
        description=f"{len(bad)} bad minute(s) of camera(s) {', '.join(c for c, r in reports.items() if r.bad)}; "
                    f"the other {written} minute(s) were written:\n"
                    + "\n".join(f"{minute}: {message}" for minute, message in bad.items()),
        metadata={"bad_minutes": MetadataValue.json(bad)},
        allow_retries=False,
    )


def partition_metadata(report: WindowReport, camera: Camera) -> dict:
    """A partition's numbers; a motion-only camera's minutes without clips are quiet, not missing."""
    written = report.written
    metadata = {
        "minutes_written": len(written),
        "minutes_quiet" if camera.motion_only else "minutes_missing": len(report.missing),
        "minutes_bad": len(report.bad),
        "frame_count": sum(w.frame_count for w in written),
        "covered_seconds": round(sum(w.covered_seconds for w in written), 1),
        "minutes_partly_covered": sum(w.covered_seconds < FULL_MINUTE_SECONDS for w in written),
        "total_intensity": float(sum(w.total_intensity for w in written)),
        "nonzero_pixels": sum(w.nonzero_pixels for w in written),
        "compressed_bytes": sum(w.compressed_bytes for w in written),
    }
    if len(written) == 1:
        metadata["video_path"] = written[0].video_path
    damaged = {f"{w.minute:%H:%M}": w.damage for w in written if w.damage}
    if damaged:
        metadata["damaged_clips"] = MetadataValue.json(damaged)
    if report.missing and not camera.motion_only:
        metadata["missing_minutes"] = MetadataValue.json([f"{m:%Y-%m-%d %H:%M}" for m in report.missing])
    metadata.update(decode_metadata(written, camera))
    return metadata


def decode_metadata(written: list, camera: Camera) -> dict:
    """How much of the footage was decoded and why, over the minutes this run computed (`decode: gated` skips
    the groups of pictures in which nothing moved; their frames count in frame_count all the same)."""
    computed = [w for w in written if w.decoded is not None]
    decoded = sum_decoded(w.decoded for w in computed)
    frames = sum(w.frame_count for w in computed)
    metadata = {"decode": camera.decode, "frames_decoded": sum(decoded.values())}
    if frames:
        metadata["frames_decoded_share"] = round(sum(decoded.values()) / frames, 4)
    if camera.decode != "full":
        metadata["frames_decoded_because"] = MetadataValue.json(decoded)
    full = {clip: f"full ({reason})" for w in computed for clip, reason in w.decoded_full.items()}
    if full:
        metadata["decoded_full"] = MetadataValue.json(full)
    return metadata
