"""The UI's side of bench/control_plane.py: the GraphQL queries the asset pages send, timed against the webserver,
and (with --browser) every operation the pages send in Chromium."""

import json
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from daemon import stop

from roz_pipeline.settings import REPO_ROOT

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
