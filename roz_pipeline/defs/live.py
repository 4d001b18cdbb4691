"""Live mode at the hour grain: `follow_cameras_sensor` starts `follow_cameras_job` runs for the hour in progress,
each following up to ROZ_FOLLOW_CAMERAS_PER_RUN live cameras in one process (usecases.live), and recording each
camera's hour partition as a materialization of its `heatmap_minutes/<camera>` asset while it fills (every 10
minutes, with the minutes written so far: the UI shows the hour as materialized, not missing) and once the hour has
settled.

A following run that dies is replaced: the sensor starts another for its cameras when it failed or was canceled
before the hour settled, or when it stopped writing its heartbeat (tag roz/heartbeat, every minute) for
HEARTBEAT_GRACE, which it then marks failed (the default run launcher cannot tell a lost process on its own once
the code server that started it is gone; run monitoring does on Kubernetes, deploy/README.md). The new run keeps
what the dead one stored (usecases.live.resume_point).

Why a job of its own rather than a run of the camera assets: a run of N camera assets executes N steps one after the
other (in_process) or in N processes, and a followed hour is an hour-long step; one process following many cameras
costs one Python process (~250 MB, bench/live.py) instead of one per camera. Late clips, backfills and every
catch-up remain runs of the camera assets (new_clips_sensor, the UI).
"""

import dataclasses
import json
from datetime import datetime, timezone

from dagster import (
    AssetMaterialization,
    Config,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)

from roz_pipeline import settings
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.defs.minutes import PartitionOutcome, bad_minutes_failure, partition_metadata
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import FOLLOW_JOB, FOLLOW_TAG, HEARTBEAT_TAG, minutes_key
from roz_pipeline.lib.partitions import PARTITION_FORMAT
from roz_pipeline.lib.policies import TRANSIENT_RETRY
from roz_pipeline.lib.resources import ClipStoreResource, HeatmapDatabase
from roz_pipeline.usecases.live import (
    SETTLE,
    FollowingRun,
    cameras_to_follow,
    cameras_to_follow_again,
    follow_windows,
)

RUN_STATES = {DagsterRunStatus.STARTED: "following", DagsterRunStatus.CANCELING: "following",
              DagsterRunStatus.SUCCESS: "done", DagsterRunStatus.FAILURE: "ended", DagsterRunStatus.CANCELED: "ended"}


class FollowConfig(Config):
    partition_key: str  # the hour, as the camera assets' partition key
    cameras: list[str]  # camera ids

    def run_config(self) -> dict:
        return {"ops": {"follow_cameras": {"config": {"partition_key": self.partition_key, "cameras": self.cameras}}}}

    @classmethod
    def of_run(cls, run: DagsterRun) -> "FollowConfig":
        """What a run of follow_cameras_job follows."""
        return cls(**run.run_config["ops"]["follow_cameras"]["config"])


def build_domain(served: ServedCameras) -> Definitions:
    """The following job and its sensor, at the hour grain (minute partitions run once each has settled)."""
    if not served.followed_live:
        return Definitions()
    follow_job = build_follow_job(served)
    return Definitions(jobs=[follow_job], sensors=[build_follow_sensor(served, follow_job)])


def build_follow_job(served: ServedCameras):
    """The job following the served cameras' hour in progress."""
    cameras, partitions, now, sleep = served.by_id, served.partitions, served.clock, served.sleep

    @op(name="follow_cameras", retry_policy=TRANSIENT_RETRY,
        description="Writes the given cameras' minutes of one hour while their clips land, until the hour has "
                    "settled; records each camera's hour partition")
    def follow_cameras(context: OpExecutionContext, config: FollowConfig, database: HeatmapDatabase,
                       clips: ClipStoreResource) -> None:
        database.migrate()
        followed = [cameras[camera_id] for camera_id in config.cameras if camera_id in cameras]
        if not followed:
            context.log.warning(f"none of {', '.join(config.cameras)} is in the registry any more")
            return
        window = partitions[followed[0].camera_id].time_window_for_partition_key(config.partition_key)
        context.log.info(f"following {', '.join(config.cameras)} from {window.start:%H:%M} until "
                         f"{window.end + SETTLE:%H:%M:%S} UTC")
        written_so_far: dict[str, int] = {}

        def filling(reports) -> None:
            """The hour is shown as materialized while it fills (rollup_automation_sensor waits for its end)."""
            for camera_id, report in reports.items():
                part = report.for_window(window.start, window.end)
                if len(part.written) > written_so_far.get(camera_id, 0):
                    written_so_far[camera_id] = len(part.written)
                    context.log_event(AssetMaterialization(
                        minutes_key(camera_id), partition=config.partition_key,
                        metadata={**partition_metadata(part, cameras[camera_id]), "status": "following",
                                  "as_of": now().isoformat()}))

        def alive() -> None:
            context.instance.add_run_tags(context.run_id, {HEARTBEAT_TAG: now().isoformat()})

        with database.connection() as conn:
            clip_inventory = clips.inventory(conn, followed, following=True, clock=now)
            reports = follow_windows(followed, clip_inventory, conn, window.start, window.end, now, sleep,
                                     context.log, filling, alive)
            clip_inventory.mark_read({key: read for report in reports.values() for key, read in report.reads.items()})
        for camera in followed:
            outcome = PartitionOutcome.of(camera, partitions[camera.camera_id], [config.partition_key],
                                          reports[camera.camera_id], context.log)
            for event in outcome.events(minutes_key(camera.camera_id)):
                context.log_event(event)
        if any(report.bad for report in reports.values()):
            raise bad_minutes_failure(reports)

    @job(name=FOLLOW_JOB, description="Follows live cameras' hour in progress (started by follow_cameras_sensor)")
    def follow_cameras_job():
        follow_cameras()

    return follow_cameras_job


def build_follow_sensor(served: ServedCameras, follow_job):
    """The sensor starting the runs that follow the hour in progress of every live camera, each camera once."""
    cameras, partitions, now = served.by_id, served.partitions, served.clock

    @sensor(name="follow_cameras_sensor", minimum_interval_seconds=settings.sensor_interval_seconds(),
            jobs=[follow_job],
            description="Starts the runs following the hour in progress of the cameras that record, at most "
                        "ROZ_FOLLOW_CAMERAS_PER_RUN cameras per run, and replaces a following run that died")
    def follow_cameras_sensor(context: SensorEvaluationContext, clips: ClipStoreResource,
                              database: HeatmapDatabase) -> SensorResult | SkipReason:
        following = json.loads(context.cursor) if context.cursor else {}
        moment = now()
        hour = floor(moment, HOUR)
        started = [camera_id for camera_id in cameras if partitions[camera_id].start <= hour]
        try:
            database.migrate_once()
            with database.connection() as conn:
                clip_inventory = clips.inventory(conn, cameras.values(), following=True, clock=now)
                requests = cameras_to_follow(clip_inventory, started, following, hour.strftime(PARTITION_FORMAT),
                                             hour, moment, settings.follow_cameras_per_run())
        except ClipStoreError as exc:
            context.log.error(str(exc))
            return SkipReason(str(exc))
        following = {c: following[c] for c in cameras if c in following}  # bounded: one entry per camera
        requests += cameras_to_follow_again(_following_runs(context, hour.strftime(PARTITION_FORMAT), moment),
                                            hour.strftime(PARTITION_FORMAT))
        run_requests = []
        for request in requests:
            following.update((camera_id, request.partition_key) for camera_id in request.camera_ids)
            after = f":after:{request.replaces}" if request.replaces else ""
            run_requests.append(RunRequest(
                run_key=f"follow:{request.partition_key}:{','.join(request.camera_ids)}{after}", job_name=FOLLOW_JOB,
                run_config=FollowConfig(partition_key=request.partition_key,
                                        cameras=list(request.camera_ids)).run_config(),
                tags={FOLLOW_TAG: request.partition_key}))
        return SensorResult(run_requests=run_requests, cursor=json.dumps(following))

    return follow_cameras_sensor



def _following_runs(context: SensorEvaluationContext, partition_key: str, now: datetime) -> list[FollowingRun]:
    """The runs following this hour; a started one that stopped beating is marked failed here (its process is gone)."""
    runs = []
    for record in context.instance.get_run_records(RunsFilter(job_name=FOLLOW_JOB, tags={FOLLOW_TAG: partition_key})):
        run = record.dagster_run
        beat = run.tags.get(HEARTBEAT_TAG)
        started = record.start_time and datetime.fromtimestamp(record.start_time, timezone.utc)
        cameras = FollowConfig.of_run(run).cameras
        following = FollowingRun(run.run_id, tuple(cameras), RUN_STATES.get(run.status, "waiting"),
                                 record.create_timestamp, datetime.fromisoformat(beat) if beat else started or None)
        if following.silent(now):
            message = (f"no heartbeat from this run since {following.alive_at:%Y-%m-%d %H:%M:%S} UTC: its process is "
                       f"gone; follow_cameras_sensor starts another run for {', '.join(cameras)}")
            context.log.warning(f"run {run.run_id}: {message}")
            context.instance.report_run_failed(run, message)
            following = dataclasses.replace(following, state="ended")
        runs.append(following)
    return runs
