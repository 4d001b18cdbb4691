"""Per-pixel motion on downscaled luma frames, counted over a minute.

A pixel moves in a frame when it differs from a running-average background by more than `threshold`
(the approach of Frigate's ImprovedMotionDetector, reduced to what a heatmap needs):

1. downscale the luma frame by `downscale_factor` (area averaging, which also averages sensor noise away);
2. |frame - background| > threshold, then a morphological opening drops isolated noisy pixels;
3. a frame in which more than `lighting_change_fraction` of the pixels changed is a lighting change (lights
   switched, auto-exposure jump): it counts for nothing and the background snaps to the new frame;
4. the background follows the scene with weight `background_alpha`;
5. pixels inside `ignore` rectangles (given in source pixels) never count;
6. at the end, pixels that moved in fewer than `min_frames` frames are set to 0 (sensor noise, compression flicker).

The result is the seed's intensity: per pixel, the number of frames in which it moved.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Rectangle = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels, x1/y1 exclusive


@dataclass(frozen=True)
class MotionSettings:
    """Every tuning knob, with the default used for all cameras unless the registry says otherwise."""

    downscale_factor: float = 4
    threshold: int = 20  # luma levels (0-255) a pixel must differ from the background
    background_alpha: float = 0.1  # weight of each new frame in the background (~10 frames of memory)
    opening_size: int = 3  # pixels; 1 disables the noise opening
    lighting_change_fraction: float = 0.5  # share of changed pixels above which a frame is a lighting change
    min_frames: int = 2  # a pixel must move in at least this many frames of the minute to count


def heatmap_shape(source_width: int, source_height: int, downscale_factor: float) -> tuple[int, int]:
    """(height, width) of the heatmap: the source divided by the factor, rounded down, at least 1."""
    if downscale_factor < 1:
        raise ValueError(f"downscale_factor must be >= 1, got {downscale_factor}")
    return max(1, int(source_height // downscale_factor)), max(1, int(source_width // downscale_factor))


class MotionAccumulator:
    """Feed it a minute's luma frames in order, then take `heatmap()`."""

    def __init__(
        self,
        source_width: int,
        source_height: int,
        settings: MotionSettings = MotionSettings(),
        ignore: Sequence[Rectangle] = (),
    ):
        self.settings = settings
        self.source_size = (source_width, source_height)
        self.height, self.width = heatmap_shape(source_width, source_height, settings.downscale_factor)
        self.counts = np.zeros((self.height, self.width), np.float32)  # float32: cv2.accumulate's fast path
        self.frames = 0
        self.lighting_changes = 0
        self._background: np.ndarray | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (settings.opening_size,) * 2)
        self._keep = self._keep_mask(ignore) if ignore else None
        counted_pixels = cv2.countNonZero(self._keep) if ignore else self.height * self.width
        self._lighting_limit = settings.lighting_change_fraction * counted_pixels

    def add(self, luma: np.ndarray) -> int:
        """Account for one frame (uint8 luma at source size); returns the pixels that changed in it (all of them
        for a lighting change, 0 for the first frame)."""
        small = self._downscale(luma)
        self.frames += 1
        if self._background is None:
            self._background = small.astype(np.float32)
            return 0
        difference = cv2.absdiff(small, cv2.convertScaleAbs(self._background))
        _, moved = cv2.threshold(difference, self.settings.threshold, 1, cv2.THRESH_BINARY)  # 0/1 per pixel
        if self.settings.opening_size > 1:
            moved = cv2.morphologyEx(moved, cv2.MORPH_OPEN, self._kernel)
        if self._keep is not None:
            cv2.bitwise_and(moved, self._keep, dst=moved)
        changed = cv2.countNonZero(moved)
        if changed > self._lighting_limit:
            self.lighting_changes += 1
            self._background = small.astype(np.float32)
            return self.height * self.width
        cv2.accumulate(moved, self.counts)
        cv2.accumulateWeighted(small, self._background, self.settings.background_alpha)
        return changed

    def heatmap(self) -> np.ndarray:
        """The float32 map: frames in which each pixel moved, with pixels under `min_frames` zeroed."""
        result = self.counts.copy()
        result[result < self.settings.min_frames] = 0
        return result

    def take(self) -> tuple[np.ndarray, int, int]:
        """(heatmap, frames, lighting changes) counted so far, then start counting afresh: the background carries
        on, so the next minute's first frame is compared with this minute's last ones."""
        taken = self.heatmap(), self.frames, self.lighting_changes
        self.counts[:] = 0
        self.frames = self.lighting_changes = 0
        return taken

    def _downscale(self, luma: np.ndarray) -> np.ndarray:
        # Halving with INTER_AREA while the size allows is ~3x cheaper than one large area resize.
        target_h, target_w = self.height, self.width
        while luma.shape[0] >= 2 * target_h and luma.shape[1] >= 2 * target_w \
                and luma.shape[0] % 2 == 0 and luma.shape[1] % 2 == 0:
            luma = cv2.resize(luma, (luma.shape[1] // 2, luma.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if luma.shape != (target_h, target_w):
            luma = cv2.resize(luma, (target_w, target_h), interpolation=cv2.INTER_AREA)
        return luma

    def _keep_mask(self, ignore: Sequence[Rectangle]) -> np.ndarray:
        """1 where motion counts, 0 inside the ignore rectangles (scaled to the heatmap grid)."""
        keep = np.ones((self.height, self.width), np.uint8)
        scale_x, scale_y = self.width / self.source_size[0], self.height / self.source_size[1]
        for x0, y0, x1, y1 in ignore:
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f"ignore rectangle {(x0, y0, x1, y1)} must have x0 < x1 and y0 < y1")
            keep[int(y0 * scale_y): int(np.ceil(y1 * scale_y)), int(x0 * scale_x): int(np.ceil(x1 * scale_x))] = 0
        return keep
