"""The control plane at N cameras with no footage arriving: the real daemon's sensor ticks, the CPU and memory of the
daemon and the code server, the log they print, and the UI's GraphQL queries.

    python bench/control_plane.py [--quick] [--cameras 1000] [--cameras-per-site 20] [--locations 1]
                                  [--history-hours 2] [--minutes 10] [--warm-up 3] [--repeat 3]
                                  [--browser CHROMIUM] [--json OUT]

N cameras (--quick: 20) in sites of --cameras-per-site (each site one asset group), hour partitions, Frigate's
layout on a local folder holding --history-hours of 10 s placeholder segments per camera that ended 20 minutes ago
and before the hour in progress (no camera is live: nothing to follow), taken into the clip inventory and marked
read beforehand (as runs would have), so the sensors have history to look at and nothing to start. The instance
keeps everything on PostgreSQL (deploy/dagster.yaml) on DATABASE_URL's server (else the embedded one); the code
location is its own `dagster api grpc` (deploy/README.md), or --locations of them splitting the sites by
`ROZ_SITES` (deploy/README.md, "Sites"); every sensor is started, then `dagster-daemon run
--log-level warning` (as deploy/README.md runs it) ticks them for --warm-up + --minutes minutes (--quick: 1 + 3).

Prints, over the --minutes after the warm-up:
- each sensor's tick duration p50 / p95 from the instance's tick records (target: p95 <= 5 s);
- CPU of the daemon and of the code server, as a share of one core (target: together <= 10%), and their RSS;
- lines at INFO or above that the daemon and the code server printed, per camera-hour (target: <= 2);
then starts `dagster-webserver` and times the GraphQL queries the UI sends for the asset catalog, the asset graph,
one site's group and one camera's asset page (median of --repeat, target <= 1 s each); with --browser, goes through
those pages in Chromium as a user does (a first visit, then the next pages) and times every GraphQL operation they
really send. Asserts nothing about time.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from databases import fresh_database, server_url, sqlalchemy_url  # noqa: E402
from ingest import every, history_starts, lay, read_all, scan  # noqa: E402
from live import DAEMON, OUT, Tree, loud_lines, stop, workspace  # noqa: E402
from roz_pipeline.clips.catalog import ClipCatalog  # noqa: E402
from roz_pipeline.clips.folder_discovery import FolderDiscovery  # noqa: E402
from roz_pipeline.clips.layout import ClipLayout  # noqa: E402
from roz_pipeline.clips.stores import LocalClipStore  # noqa: E402
from roz_pipeline.core.timesteps import HOUR, floor  # noqa: E402
from roz_pipeline.registry import load_registry  # noqa: E402
from roz_pipeline.settings import REPO_ROOT  # noqa: E402
from roz_pipeline.usecases.new_clips import NewClipsCursor  # noqa: E402

QUIET_FOR = timedelta(minutes=20)  # the history ends this long ago, and before this hour: no camera is live

CATALOG = """query AssetCatalogTableQuery { assetsOrError { __typename ... on AssetConnection { nodes { id key { path }
  definition { id groupName isPartitioned isMaterializable description kinds repository { name location { name } }
  partitionDefinition { description } } } } } }"""
LATEST = """query AssetsLiveQuery($assetKeys: [AssetKeyInput!]!) { assetsLatestInfo(assetKeys: $assetKeys) {
  id assetKey { path } unstartedRunIds inProgressRunIds latestRun { id status endTime } } }"""
GRAPH = """query AssetGraphQuery { assetNodes { id assetKey { path } groupName isPartitioned
  dependencyKeys { path } dependedByKeys { path } repository { name location { name } } } }"""
GROUP = """query AssetGroupGraphQuery($group: AssetGroupSelector!) { assetNodes(group: $group) { id assetKey { path }
  groupName dependencyKeys { path } dependedByKeys { path } partitionStats { numMaterialized numPartitions
  numFailed numMaterializing } } }"""
CAMERA = """query AssetViewQuery($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode { id
  description groupName partitionKeys partitionStats { numMaterialized numPartitions numFailed numMaterializing }
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } }
  assetMaterializations(limit: 1) { timestamp partition } assetChecksOrError { ... on AssetChecks { checks { name } } }
} } }"""


def prepare(work: Path, cameras: int, per_site: int, history_hours: float) -> dict:
    work.mkdir(parents=True)
    home, root = work / "dagster", work / "recordings"
    home.mkdir()
    root.mkdir()
    width = len(str(cameras - 1))
    (work / "cameras.yaml").write_text("cameras:\n" + "".join(
        f"  cam-{i:0{width}d}: {{source_name: Cam{i:0{width}d}, site: site_{i // per_site:03d}}}\n"
        for i in range(cameras)))
    server = server_url()
    instance = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    instance["storage"] = {"postgres": {"postgres_url": sqlalchemy_url(fresh_database(server, "roz_cp_dagster"))}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    environment = {**os.environ, "DAGSTER_HOME": str(home), "ROZ_VIDEO_ROOT": str(root), "ROZ_CLIP_LAYOUT": "frigate",
                   "ROZ_CAMERAS_FILE": str(work / "cameras.yaml"), "ROZ_PARTITION_GRAIN": "hour",
                   "DATABASE_URL": fresh_database(server, "roz_cp_heatmaps"),
                   "ROZ_PARTITIONS_START": f"{datetime.now(timezone.utc) - timedelta(days=1):%Y-%m-%d}",
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["roz", "db", "migrate"], env=environment, check=True, capture_output=True)

    registry = list(load_registry(work / "cameras.yaml").values())
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    end = min(now - QUIET_FOR, floor(now, HOUR))
    files = lay(root, every([c.name_in_store for c in registry], history_starts(end, history_hours)))
    discovery = FolderDiscovery(ClipCatalog(LocalClipStore(root), ClipLayout.from_setting("frigate"), registry),
                                6, timedelta(days=7))
    with psycopg.connect(environment["DATABASE_URL"], autocommit=True) as conn:
        ids = [c.camera_id for c in registry]
        scan(discovery, conn, ids, NewClipsCursor(), now)
        read_all(discovery, conn, ids, now)
        conn.execute("VACUUM ANALYZE")
    print(f"{cameras:,} cameras: {files:,} placeholder segments laid, taken in and marked read in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return environment


def tick_durations(home: Path, since: float) -> dict[str, list[float]]:
    """Each sensor's tick durations (seconds), every code location's, of the ticks started after `since`."""
    from dagster import DagsterInstance

    durations: dict[str, list[float]] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for state in instance.all_instigator_state():
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=10_000)
            durations.setdefault(state.instigator_name, []).extend(
                t.end_timestamp - t.timestamp for t in ticks if t.timestamp >= since and t.end_timestamp)
    return {name: sorted(values) for name, values in durations.items()}


def percentile(values: list[float], fraction: float) -> float | None:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else None


def graphql(port: int, query: str, variables: dict | None = None) -> tuple[float, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = json.loads(response.read())
    elapsed = time.perf_counter() - started
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors'][:2]}")
    return elapsed, body["data"]


def operation(request) -> str:
    """The GraphQL operation a request of the UI asks for (its name is in the URL or in the body)."""
    if "op=" in request.url:
        return request.url.split("op=")[-1]
    body = request.post_data_json or {}
    return body.get("operationName") or "?"


def browser_pages(port: int, chromium: str, camera: list[str], group_page: str) -> dict:
    """The UI's pages in a real browser (playwright driving `chromium`), as a user goes through them: a first visit
    (empty browser cache), then the next pages in the same browser (the UI keeps each location's asset list in the
    browser's IndexedDB until the location is reloaded), and a camera's page opened from a link in a new browser.
    Every GraphQL operation each page sent (answered or not), with its server time (request sent to first byte of
    the response), the slowest where an operation was sent more than once; and the bodies of the UI's
    `LocationWorkspaceAssetsQuery` requests, one per location, to time them alone."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    camera_page = "/assets/" + "/".join(camera)
    visits = [("asset catalog, first visit", "/assets", True), ("then a site's group", group_page, False),
              ("then a camera's asset page", camera_page, False), ("then the asset catalog", "/assets", False),
              ("a camera's asset page, first visit", camera_page, True)]
    times: dict[str, dict[str, float]] = {}
    workspace_asset_lists: dict[str, dict] = {}  # location -> the request's body
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        page = None
        for name, path, first_visit in visits:
            if first_visit:
                page = browser.new_context().new_page()
            operations: dict[str, float] = {}
            sent: dict = {}  # request -> when it was sent (time.monotonic)

            def requested(request, sent=sent):
                if "/graphql" in request.url:
                    sent[request] = time.monotonic()
                    if operation(request) == "LocationWorkspaceAssetsQuery":
                        body = request.post_data_json
                        workspace_asset_lists[body["variables"]["name"]] = body

            def finished(request, operations=operations, sent=sent):
                if sent.pop(request, None) is not None:
                    timing = request.timing
                    seconds = (timing["responseStart"] - timing["requestStart"]) / 1000
                    name = operation(request)
                    operations[name] = round(max(operations.get(name, 0.0), seconds), 3)

            def failed(request, sent=sent):
                sent.pop(request, None)

            page.on("request", requested)
            page.on("requestfinished", finished)
            page.on("requestfailed", failed)
            try:
                page.goto(f"http://127.0.0.1:{port}{path}", wait_until="networkidle", timeout=120_000)
            except PlaywrightTimeout:  # a page that keeps polling: what it sent in 2 minutes
                operations["(never network-idle)"] = 120.0
            page.wait_for_timeout(2_000)  # the sync API hands over the requests' events while it waits
            for request, started in sent.items():  # still unanswered: waiting this long so far
                operations[operation(request) + " (unanswered)"] = round(time.monotonic() - started, 3)
            for event, handler in (("request", requested), ("requestfinished", finished), ("requestfailed", failed)):
                page.remove_listener(event, handler)
            times[name] = dict(sorted(operations.items(), key=lambda item: -item[1]))
        browser.close()
    return times, workspace_asset_lists


def ui_queries(work: Path, environment: dict, workspace_file: Path, repeat: int, chromium: str | None) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (work / "webserver.log").open("w")
    webserver = subprocess.Popen(["dagster-webserver", "-w", str(workspace_file), "-h", "127.0.0.1", "-p", str(port)],
                                 cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or webserver.poll() is not None:
                    raise RuntimeError(f"the webserver did not start: see {work / 'webserver.log'}") from None
                time.sleep(1)
        _, catalog = graphql(port, CATALOG)  # also loads the workspace once
        nodes = catalog["assetsOrError"]["nodes"]
        first = next(n for n in nodes if n["key"]["path"][0] == "heatmap_minutes"
                     and n["definition"]["groupName"] == "site_000")
        camera, location = first["key"]["path"], first["definition"]["repository"]
        group = {"groupName": "site_000", "repositoryName": location["name"],
                 "repositoryLocationName": location["location"]["name"]}
        page = [{"path": n["key"]["path"]} for n in nodes[:100]]  # the rows of the catalog's first page
        asks = {"catalog": (CATALOG, None), "catalog first page live data": (LATEST, {"assetKeys": page}),
                "graph": (GRAPH, None), "a site's group": (GROUP, {"group": group}),
                "a camera's page": (CAMERA, {"key": {"path": camera}})}
        timed = {name: round(statistics.median(graphql(port, query, variables)[0] for _ in range(repeat)), 3)
                 for name, (query, variables) in asks.items()}
        group_page = f"/locations/{location['name']}@{location['location']['name']}/asset-groups/site_000"
        if not chromium:
            return timed, None
        pages, workspace_asset_lists = browser_pages(port, chromium, camera, group_page)
        for location, body in workspace_asset_lists.items():  # what the browser waited for, without the page's others
            timed[f"the UI's asset list of {location}, alone"] = round(statistics.median(
                graphql(port, body["query"], body["variables"])[0] for _ in range(repeat)), 3)
        return timed, pages
    finally:
        stop([webserver])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 cameras, 1 + 3 minutes: checks the script")
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--cameras-per-site", type=int, default=20)
    parser.add_argument("--history-hours", type=float, default=2)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warm-up", type=float, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--locations", type=int, default=1, help="code locations splitting the sites (ROZ_SITES)")
    parser.add_argument("--browser", metavar="CHROMIUM", help="also load the UI's pages in this Chromium (playwright "
                        "installed) and time every GraphQL operation they send")
    parser.add_argument("--json", type=Path, default=OUT / "control_plane.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.cameras, args.minutes, args.warm_up = 20, 3, 1
    work = OUT / "control_plane"
    shutil.rmtree(work, ignore_errors=True)
    environment = prepare(work, args.cameras, args.cameras_per_site, args.history_hours)
    sites = [f"site_{i:03d}" for i in range(-(-args.cameras // args.cameras_per_site))]
    groups = [",".join(sites[i::args.locations]) for i in range(args.locations)] if args.locations > 1 else None
    workspace_file, servers = workspace(work, "standalone", environment, groups)
    for location in yaml.safe_load(workspace_file.read_text())["load_from"]:
        subprocess.run(["dagster", "sensor", "start", "--start-all", "-w", str(workspace_file), "-l",
                        location["grpc_server"]["location_name"]], cwd=REPO_ROOT, env=environment, check=True,
                       capture_output=True)
    daemon_log = work / "daemon.log"
    daemon = subprocess.Popen(DAEMON + ["-w", str(workspace_file)], cwd=REPO_ROOT, env=environment,
                              stdout=daemon_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    logs = [daemon_log, *work.glob("code-server*.log")]
    tree = Tree([daemon, *servers])
    try:
        end_of_warm_up = time.monotonic() + args.warm_up * 60
        while time.monotonic() < end_of_warm_up:
            tree.sample()
            time.sleep(1)
        since, cpu_before = time.time(), tree.cpu_by_kind()
        started = time.monotonic()
        while time.monotonic() < started + args.minutes * 60:
            tree.sample()
            time.sleep(1)
        elapsed = time.monotonic() - started
        cpu = {kind: round((seconds - cpu_before.get(kind, 0.0)) / elapsed, 4)
               for kind, seconds in tree.cpu_by_kind().items()}
        lines = sum(loud_lines(log, datetime.fromtimestamp(since, timezone.utc), datetime.now(timezone.utc))
                    for log in logs)
        ticks = tick_durations(Path(environment["DAGSTER_HOME"]), since)
        ui, pages = ui_queries(work, environment, workspace_file, args.repeat, args.browser)
    finally:
        stop([daemon, *servers])
    camera_hours = args.cameras * elapsed / HOUR.total_seconds()
    results = {
        "cameras": args.cameras, "locations": args.locations, "minutes": args.minutes,
        "history_hours": args.history_hours,
        "sensor_ticks": {name: {"ticks": len(d), "p50_s": percentile(d, 0.5), "p95_s": percentile(d, 0.95)}
                         for name, d in sorted(ticks.items())},
        "cpu_share_of_a_core": cpu, "idle_cpu_share": round(sum(cpu.values()), 4),
        "peak_rss_mb": {kind: round(rss / 2**20) for kind, rss in tree.peak_rss_by_kind.items()},
        "loud_log_lines": lines, "loud_lines_per_camera_hour": round(lines / camera_hours, 3),
        "ui_query_s": ui, "browser_operations_s": pages,
    }
    print(f"{args.cameras:,} cameras in {args.locations} code location(s), {args.minutes:g} minutes after a "
          f"{args.warm_up:g}-minute warm-up, no footage arriving:")
    for name, t in results["sensor_ticks"].items():
        if t["ticks"]:
            print(f"  {name:28} {t['ticks']:>3} ticks, p50 {t['p50_s']:.2f} s, p95 {t['p95_s']:.2f} s (p95 <= 5 s)")
    print(f"  CPU, share of one core: {results['idle_cpu_share']:.1%} (<= 10%): "
          + ", ".join(f"{kind} {share:.1%}" for kind, share in sorted(cpu.items())))
    print("  peak RSS: " + ", ".join(f"{kind} {mb} MB" for kind, mb in sorted(results["peak_rss_mb"].items())))
    print(f"  log lines at INFO or above: {lines} = {results['loud_lines_per_camera_hour']} per camera-hour (<= 2)")
    print("  UI GraphQL, median of {}: ".format(args.repeat)
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in ui.items()) + " (each <= 1 s)")
    for page, operations in (pages or {}).items():
        print(f"  in the browser, {page}: {len(operations)} GraphQL operation(s), the slowest "
              + ", ".join(f"{op} {seconds:.2f} s" for op, seconds in list(operations.items())[:3]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
