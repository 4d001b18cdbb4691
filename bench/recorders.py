"""Footage as recorders cut it: one minute from six Frigate 10 s segments, locally and from S3 with latency, and an
hour-long file streamed through a window of 60 minutes.

    python bench/recorders.py [--repeats 3] [--long-minutes 60] [--latency 0.05] [--json OUT]

1. CPU of Roz turning six 10 s 1080p15 segments (bench/extract.py's clip cut by ffmpeg's segment muxer, Frigate's
   layout) into their minute's row, vs `ffmpeg -threads 1 -f null` decoding the same six files (target <= 1.10).
2. Wall time of the same minute read from S3 (moto's server, every request held back `latency` seconds by the
   client) vs from the local folder (target <= 1.3): downloads run ahead while a segment decodes.
3. An hour-long file (the clip joined `long-minutes` times by ffmpeg's concat demuxer, `-c copy`) in S3, processed
   as one hour partition in a child process: its peak RSS (target <= 500 MB), the file's GET requests (1) and what
   is left in the temporary folder afterwards (nothing).
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from common import MOTO_CREDENTIALS, OUT, fresh_database, server_url
from extract import benchmark_clip, ffmpeg_binary

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.processing import read_minutes

MINUTE = datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)
CAMERA = Camera("front-door", source_name="Front_Door")
FRIGATE = ClipLayout.from_setting("frigate")


def frigate_segments(clip: Path) -> Path:
    """The clip cut into 10 s segments at its keyframes, named as Frigate names them from 14:05:00."""
    root = OUT / "frigate"
    folder = root / f"{MINUTE:%Y-%m-%d/%H}/{CAMERA.source_name}"
    if len(list(folder.glob("*.mp4"))) != 6:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-i", str(clip), "-c", "copy", "-f", "segment",
                        "-segment_time", "10", "-reset_timestamps", "1", str(folder / "seg%d.mp4")], check=True)
        for index in range(6):
            (folder / f"seg{index}.mp4").rename(folder / f"05.{10 * index:02d}.mp4")
    return root


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def read_minute(catalog: ClipCatalog) -> list:
    clips = catalog.clips_for_window([CAMERA.camera_id], MINUTE, MINUTE + timedelta(minutes=1)).clips[CAMERA.camera_id]
    found = list(read_minutes(clips, catalog.store, CAMERA, MINUTE, MINUTE + timedelta(minutes=1)))
    assert len(found) == 1 and found[0].frame_count == 900, [(f.minute, f.frame_count) for f in found]
    return found


def measure(function, repeats: int) -> tuple[float, float]:
    """Median (cpu seconds, wall seconds) of `repeats` calls."""
    runs = []
    for _ in range(repeats):
        before, started = cpu(), time.perf_counter()
        function()
        runs.append((cpu() - before, time.perf_counter() - started))
    runs.sort(key=lambda run: run[1])
    return runs[len(runs) // 2]


def ffmpeg_decode(paths: list[Path]) -> None:
    for path in paths:
        subprocess.run([ffmpeg_binary(), "-v", "error", "-threads", "1", "-i", str(path), "-f", "null", "-"],
                       check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def far_away(client, latency: float):
    """`client`, each of whose requests waits `latency` seconds before it is sent: a store across a network."""
    client.meta.events.register("before-send.s3.*", lambda **_: time.sleep(latency))
    return client


def moto_server():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def upload(client, bucket: str, root: Path) -> None:
    client.create_bucket(Bucket=bucket)
    for path in sorted(root.rglob("*.mp4")):
        client.upload_file(str(path), bucket, path.relative_to(root).as_posix())


def long_file(clip: Path, minutes: int) -> Path:
    """The clip joined `minutes` times without re-encoding, named as MediaMTX names it (starting 14:00)."""
    path = OUT / "long" / "front-door" / "2026-11-20_14-00-00-000000.mp4"
    marker = path.with_suffix(f".{minutes}")
    if not marker.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.iterdir():
            old.unlink()
        listing = OUT / "long-concat.txt"
        listing.write_text("".join(f"file '{clip.resolve()}'\n" for _ in range(minutes)))
        subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-c", "copy", str(path)], check=True)
        marker.touch()
    return path


CHILD = """
import json, sys
from datetime import datetime, timezone
from pathlib import Path
import boto3
from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.s3_store import S3ClipStore
from roz_pipeline.registry import Camera
from roz_pipeline.storage.connection import connect
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.usecases.processing import process_window
endpoint, bucket, database, migrations = sys.argv[1:5]
Migrator(database, Path(migrations)).migrate()
client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
downloaded = []  # the bytes of each GetObject answer (a download in parts asks several)
client.meta.events.register("after-call.s3.GetObject",
                            lambda **call: downloaded.append(call["parsed"]["ContentLength"]))
camera = Camera("front-door")
catalog = ClipCatalog(S3ClipStore(client, bucket), ClipLayout.from_setting("{camera}/%Y-%m-%d_%H-%M-%S-%f"), [camera])
start = datetime(2026, 11, 20, 14, tzinfo=timezone.utc)
with connect(database, autocommit=True) as conn:
    report = process_window(camera, catalog, conn, start, start.replace(hour=15))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
peak_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
print(json.dumps({"rows": len(report.written), "peak_rss_mb": peak_kb / 1024, "downloaded_bytes": sum(downloaded)}))
"""


def long_file_run(path: Path, endpoint: str, minutes: int) -> dict:
    client = boto3.client("s3", endpoint_url=endpoint, **MOTO_CREDENTIALS)
    client.create_bucket(Bucket="long")
    client.upload_file(str(path), "long", path.relative_to(path.parent.parent).as_posix())
    database = fresh_database(server_url(), "roz_bench_recorders")
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("roz-clip*"))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, endpoint, "long", database,
                             str(Path(__file__).resolve().parent.parent / "db" / "migrations")],
                            capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    child = json.loads(result.stdout.strip().splitlines()[-1])
    fetched = child["downloaded_bytes"]
    assert child["rows"] == minutes, child
    return {"file_mb": round(path.stat().st_size / 2**20, 1), "minutes": minutes, "rows": child["rows"],
            "peak_rss_mb": round(child["peak_rss_mb"], 1), "times_downloaded": round(fetched / path.stat().st_size, 2),
            "temporary_files_left": len(set(temp.glob("roz-clip*")) - before), "wall_s": round(seconds, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-minutes", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every S3 request")
    parser.add_argument("--json", type=Path, default=OUT / "recorders.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    clip = benchmark_clip()
    root = frigate_segments(clip)
    segments = sorted(root.rglob("*.mp4"))
    local = ClipCatalog(LocalClipStore(root), FRIGATE, [CAMERA])
    read_minute(local)  # warm the page cache and the imports
    roz_cpu, roz_wall = measure(lambda: read_minute(local), args.repeats)
    ffmpeg_cpu, _ = measure(lambda: ffmpeg_decode(segments), args.repeats)

    server, endpoint = moto_server()
    try:
        client = boto3.client("s3", endpoint_url=endpoint, **MOTO_CREDENTIALS)
        upload(client, "segments", root)
        slow = far_away(boto3.client("s3", endpoint_url=endpoint, **MOTO_CREDENTIALS), args.latency)
        s3 = ClipCatalog(S3ClipStore(slow, "segments"), FRIGATE, [CAMERA])
        _, s3_wall = measure(lambda: read_minute(s3), args.repeats)
        long_run = long_file_run(long_file(clip, args.long_minutes), endpoint, args.long_minutes)
    finally:
        server.stop()

    results = {
        "six_segments": {"roz_cpu_s": round(roz_cpu, 3), "ffmpeg_decode_cpu_s": round(ffmpeg_cpu, 3),
                         "ratio": round(roz_cpu / ffmpeg_cpu, 3), "target": 1.10},
        "s3_latency": {"latency_s": args.latency, "local_wall_s": round(roz_wall, 3), "s3_wall_s": round(s3_wall, 3),
                       "ratio": round(s3_wall / roz_wall, 3), "target": 1.3},
        "long_file": {**long_run, "target_peak_rss_mb": 500},
    }
    print(f"six 10 s segments -> one minute: Roz {roz_cpu:.2f} s CPU, ffmpeg decode-only {ffmpeg_cpu:.2f} s: "
          f"ratio {roz_cpu / ffmpeg_cpu:.3f} (target <= 1.10)")
    print(f"the same minute from S3 with {args.latency * 1000:.0f} ms per request: {s3_wall:.2f} s wall vs "
          f"{roz_wall:.2f} s local: ratio {s3_wall / roz_wall:.3f} (target <= 1.3)")
    print(f"{args.long_minutes}-minute file from S3 ({long_run['file_mb']} MB): {long_run['rows']} rows, peak RSS "
          f"{long_run['peak_rss_mb']} MB (target <= 500), downloaded {long_run['times_downloaded']} time(s), "
          f"{long_run['temporary_files_left']} temporary file(s) left, {long_run['wall_s']} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
