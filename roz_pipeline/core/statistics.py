"""The statistics a stored heatmap carries beside its array (`heatmap_minutes`, `heatmap_rollups`), defined once."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeatmapStatistics:
    total_intensity: float  # the sum of every pixel (float64 accumulation)
    max_intensity: float
    nonzero_pixels: int  # pixels that moved at least once


def statistics_of(heatmap: np.ndarray) -> HeatmapStatistics:
    return HeatmapStatistics(float(heatmap.sum(dtype=np.float64)), float(heatmap.max()),
                             int(np.count_nonzero(heatmap)))
