"""`decode: gated` on really encoded clips: the groups of pictures (GOPs) in which nothing moved are skipped without
decoding, motion is decoded as the full decode sees it, and where packet sizes cannot be trusted the clip is decoded
fully and says why."""

import json
from pathlib import Path

import av
import numpy as np
import pytest

from roz_pipeline.clips.stores import ClipRef, LocalClipStore
from roz_pipeline.clips.synthetic import Walker, camera_stream_options, encode_frames, scene, write_clip
from roz_pipeline.core.gate import GateSettings, gate_for
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.timesteps import MINUTE
from roz_pipeline.core.video import LumaDecoder
from roz_pipeline.defs.minutes import decode_metadata
from roz_pipeline.registry import Camera, RegistryError, load_registry
from roz_pipeline.usecases.processing import WrittenMinute, read_minutes
from roz_pipeline_tests.helpers import T0

FPS, GOP = 10, 10  # a keyframe every second, no B-frames: as cameras send it
CAMERA = camera_stream_options(GOP)
LEARNED = GateSettings.learn_gops * GOP  # frames decoded before the gate skips anything
SETTLING = {"learning", "quieter than learned"}  # what a still clip is decoded for: the first GOPs' sizes


def still_clip(path: Path, seconds: int, walkers: tuple[Walker, ...] = (), options: dict | None = None) -> str:
    return write_clip(path, width=320, height=180, fps=FPS, frames=seconds * FPS, walkers=walkers, noise=1.5,
                      options={**CAMERA, **(options or {})})


def decoded_frames(clip: str) -> tuple[int, int]:
    """(frames the decoder gave, frames skipped) reading `clip` through a fresh gate, feeding nothing back."""
    decoder = LumaDecoder(clip, gate=gate_for("gated"))
    for _ in decoder:
        pass
    return decoder.report.decoded_frames, decoder.report.skipped_frames


def test_a_still_stretch_with_sensor_noise_is_counted_but_not_decoded(tmp_path):
    clip = still_clip(tmp_path / "still.mp4", seconds=50)

    full, gated = compute_heatmap(clip), compute_heatmap(clip, decode="gated")

    assert gated.frame_count == full.frame_count == 500
    # The rest never reached the decoder: only the first GOPs, while the encoder's rate control settles.
    assert set(gated.decoded) <= SETTLING and gated.decoded["learning"] == LEARNED
    assert sum(gated.decoded.values()) <= LEARNED + GOP
    assert gated.summary()["frames_decoded_share"] == sum(gated.decoded.values()) / 500
    assert not gated.heatmap.any() and not full.heatmap.any()


def test_a_person_entering_mid_gop_is_decoded_and_mapped_as_the_full_decode_maps_it(tmp_path):
    entering = Walker(start=(-20, 60), end=(300, 70), size=(16, 40), first_frame=305, last_frame=335)
    clip = still_clip(tmp_path / "enters.mp4", seconds=50, walkers=(entering,))

    full, gated = compute_heatmap(clip), compute_heatmap(clip, decode="gated")

    assert gated.frame_count == 500 and full.statistics.nonzero_pixels > 500
    # The same map but at the person's edges, where a pixel's count differs by a frame or two: the detector starts
    # afresh at the GOP's keyframe (one noisy frame as the background, not the full decode's running average).
    assert np.abs(gated.heatmap - full.heatmap).max() <= 2
    assert np.count_nonzero(gated.heatmap != full.heatmap) < 0.05 * full.statistics.nonzero_pixels
    assert abs(gated.statistics.total_intensity / full.statistics.total_intensity - 1) < 0.01
    assert gated.decoded.get("moving", 0) >= GOP and sum(gated.decoded.values()) < 300


def test_lighting_that_drifts_while_skipped_is_not_motion_after_it(tmp_path):
    """A lamp brightens the left third of the picture by 50 levels over 30 s while the gate skips; then a person
    crosses the right part: the GOPs with the person are decoded with a detector started afresh, so the lamp's new
    light is not taken for motion."""
    background = scene(320, 180).astype(np.float32)
    rng = np.random.default_rng(5)

    def frame(index: int) -> np.ndarray:
        image = background + rng.normal(0, 1.5, background.shape)
        image[:, :110] += 50 * np.clip((index - 100) / 300, 0, 1)
        if 455 <= index < 495:  # a person (limbs moving: a fresh texture every frame) crossing x = 200..300
            x = 200 + (index - 455) * 2
            image[60:100, x: x + 16] = rng.integers(150, 250, (40, 16))
        return image

    clip = encode(tmp_path / "dusk.mp4", (frame(i) for i in range(500)))

    gated = compute_heatmap(clip, decode="gated")

    assert gated.decoded.get("moving", 0) >= GOP and sum(gated.decoded.values()) < 200  # the ramp was skipped
    assert gated.heatmap[15:25, 50:80].any()  # the person
    assert not gated.heatmap[:, : 120 // 4].any()  # the lamp's side


@pytest.mark.parametrize(("options", "reason"), [({"x264-params": "intra-refresh=1"}, "intra refresh"),
                                                 ({"bf": "2", "preset": "veryfast"}, "B-frames")])
def test_streams_whose_gops_cannot_be_skipped_are_decoded_fully_and_say_why(tmp_path, options, reason):
    clip = still_clip(tmp_path / "camera.mp4", seconds=20, options=options)

    gated = compute_heatmap(clip, decode="gated")

    assert gated.decoded_full == reason
    assert sum(gated.decoded.values()) == gated.frame_count == 200
    assert gated.summary()["decoded_full_because"] == reason


def test_a_damaged_packet_in_a_skipped_gop_does_not_stop_the_clip(tmp_path):
    walker = Walker(start=(0, 60), end=(300, 70), size=(16, 40), first_frame=400, last_frame=440)
    intact = still_clip(tmp_path / "intact.mp4", seconds=50, walkers=(walker,))
    damaged = tmp_path / "damaged.mp4"
    damage_a_p_frame(Path(intact), damaged, frame=205)

    result, reference = compute_heatmap(damaged, decode="gated"), compute_heatmap(intact, decode="gated")

    assert result.frame_count == 500
    assert result.decoded == reference.decoded  # the damaged GOP was skipped; everything after it was read
    assert np.array_equal(result.heatmap, reference.heatmap) and result.heatmap.any()


def test_the_compute_command_reports_the_share_decoded_and_why(tmp_path, roz):
    clip = still_clip(tmp_path / "still.mp4", seconds=20)

    result = roz("heatmap", "compute", clip, "--decode", "gated", "--threads", "1", "--json")

    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert (row["decode"], row["frame_count"]) == ("gated", 200) and LEARNED <= row["frames_decoded"] <= LEARNED + GOP
    assert row["frames_decoded_share"] == row["frames_decoded"] / 200
    assert set(row["frames_decoded_because"]) <= SETTLING


def test_the_registry_reads_decode_and_refuses_other_values(tmp_path):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {decode: gated}\n  yard: {}\n")
    cameras = load_registry(registry)
    assert (cameras["lobby"].decode, cameras["yard"].decode) == ("gated", "full")

    registry.write_text("cameras:\n  lobby: {decode: keyframes}\n")
    with pytest.raises(RegistryError, match="decode must be one of full, gated, got 'keyframes'"):
        load_registry(registry)


def encode(path: Path, frames, fps: int = FPS) -> str:
    """Grey float frames -> H.264 as a camera sends it (CAMERA's GOP, no B-frames)."""
    return encode_frames(path, frames, width=320, height=180, fps=fps, options=CAMERA)


def damage_a_p_frame(clip: Path, out: Path, frame: int) -> None:
    """`clip` with the middle of the packet of frame `frame` (a P-frame) overwritten: its size stays the same."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        packet = [p for p in container.demux(stream) if p.size][frame]
        assert not packet.is_keyframe
        position, size = packet.pos, packet.size
    data = bytearray(clip.read_bytes())
    data[position + size // 3: position + 2 * size // 3] = np.random.default_rng(1).integers(
        0, 256, 2 * size // 3 - size // 3, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))


def test_partition_metadata_says_how_much_was_decoded_and_why(tmp_path):
    still_clip(tmp_path / "still.mp4", seconds=60)
    still_clip(tmp_path / "intra.mp4", seconds=90, options={"x264-params": "intra-refresh=1"})
    camera = Camera("lobby", decode="gated")
    refs = [ClipRef("still.mp4", "lobby", T0, "still.mp4"), ClipRef("intra.mp4", "lobby", T0 + MINUTE, "intra.mp4")]
    written = [WrittenMinute(found.minute, found.first_clip, found.frame_count, found.covered_seconds, 0.0, 0, 0,
                             None, dict(found.decoded), dict(found.decoded_full))  # as MinuteRecorder keeps them
               for found in read_minutes(refs, LocalClipStore(tmp_path), camera, T0, T0 + 3 * MINUTE)]

    metadata = decode_metadata(written, camera)

    decoded = metadata["frames_decoded"]
    assert metadata["decode"] == "gated" and LEARNED + 900 <= decoded <= LEARNED + GOP + 900
    assert metadata["frames_decoded_share"] == round(decoded / 1500, 4)
    because = metadata["frames_decoded_because"].data  # the intra-refresh clip's first GOP is judged, then not
    assert because["learning"] == LEARNED and because["intra refresh"] >= 900 - GOP
    assert metadata["decoded_full"].data == {"intra.mp4": "full (intra refresh)"}
