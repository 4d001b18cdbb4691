"""`roz demo` and `roz materialize`: commands that start Dagster runs (Dagster is imported only for them)."""

import os
import sys

from roz_pipeline.cli.arguments import EXIT_ERROR, EXIT_OK, period_arguments
from roz_pipeline.settings import cameras_file, dagster_home


def register(commands) -> None:
    demo = commands.add_parser("demo", help="the whole pipeline on generated footage and the embedded defaults")
    demo.add_argument("--database-url", metavar="URL",
                      help="write the demo's rows to this server instead of an embedded PostgreSQL of its own "
                           "(DATABASE_URL is never used by the demo: it would overwrite a real camera's minutes)")
    demo.set_defaults(run=_demo)

    materialize = commands.add_parser(
        "materialize", help="a camera's minutes in real Dagster runs on the DAGSTER_HOME instance (an hour per "
                            "partition, as a UI backfill), then the rollups of the hours and days they completed")
    materialize.add_argument("--camera", required=True)
    period_arguments(materialize)
    materialize.add_argument("--verbose", action="store_true", help="print every Dagster event of the runs")
    materialize.set_defaults(run=_materialize)


def _demo(args) -> int:
    import warnings

    from dagster import BetaWarning, PreviewWarning

    # The demo prints its own progress; the runs' logs stay in the Dagster instance for the UI.
    for category in (BetaWarning, PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    from roz_pipeline.cli.demo import main as demo_main  # imports Dagster: only for this command

    return demo_main(database_url=args.database_url)


def _materialize(args) -> int:
    from dagster import DagsterInstance, TimeWindow  # imports Dagster: only for this command

    from roz_pipeline.definitions import defs
    from roz_pipeline.lib.keys import days_key, hours_key, minutes_key
    from roz_pipeline.lib.launch import execute_ranges, local_instance_folder, ranges_in_window

    home = local_instance_folder(dagster_home())
    os.environ["DAGSTER_HOME"] = str(home)  # where DagsterInstance.get() looks
    camera, window = args.camera, TimeWindow(args.start, args.end)
    if minutes_key(camera) not in defs.resolve_asset_graph().get_all_asset_keys():
        raise ValueError(f"camera {camera!r} is not in the registry ({cameras_file()})")
    print(f"{camera}: processing {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC "
          f"(runs on the instance in {home}; ./run ui shows them)")
    failed, counts = 0, {}
    with DagsterInstance.get() as instance:
        for grain, key in (("minutes", minutes_key(camera)), ("hours", hours_key(camera)), ("days", days_key(camera))):
            try:
                ranges = ranges_in_window(defs, key, camera, window)
            except ValueError:  # a rollup of an hour or a day not ended yet: none
                continue
            for camera_range, result in execute_ranges(ranges, instance, verbose=args.verbose):
                failed += not result.success
                for event in result.get_asset_materialization_events():
                    for name, value in event.materialization.metadata.items():
                        counts[name] = counts.get(name, 0) + (value.value if name.startswith("minutes_") else
                                                              len(value.value) if name == "damaged_clips" else 0)
                    counts[grain] = counts.get(grain, 0) + 1
                if not result.success:
                    print(f"  run {result.run_id} ({camera_range.first} .. {camera_range.last}) FAILED: "
                          f"{_failure(result)}", file=sys.stderr)
            if failed:
                break  # rollups of minutes that failed would be wrong
    print(f"{camera}: {counts.get('minutes', 0)} partition(s) processed: {counts.get('minutes_written', 0)} "
          f"minute(s) written ({counts.get('minutes_partly_covered', 0)} partly covered), "
          + (f"{counts['minutes_quiet']} quiet" if "minutes_quiet" in counts
             else f"{counts.get('minutes_missing', 0)} without footage")
          + (f", {counts['damaged_clips']} damaged clip(s) read in part" if counts.get("damaged_clips") else "")
          + f"; rollups: {counts.get('hours', 0)} hour(s), {counts.get('days', 0)} day(s)")
    return EXIT_ERROR if failed else EXIT_OK


def _failure(result) -> str:
    """The first line of the run's first step failure."""
    for event in result.get_step_failure_events():
        return event.step_failure_data.error.message.strip().splitlines()[0]
    return "see the run in the Dagster UI"
