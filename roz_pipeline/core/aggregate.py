"""Sums of heatmaps over time. A camera's heatmap size changes when its downscale factor or resolution does, and
maps of different sizes cannot be added: the size most of them have wins and the others are counted as left out."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

Item = TypeVar("Item")


@dataclass(frozen=True)
class HeatmapSum(Generic[Item]):
    total: np.ndarray  # float32, the sum of the included maps
    included: list[Item]  # the items summed (all of one size)
    left_out: int  # items at another size


def sum_heatmaps(items: Sequence[Item]) -> HeatmapSum[Item]:
    """The float32 sum of the items' `.heatmap` of the most common size. `items` must not be empty."""
    if not items:
        raise ValueError("nothing to sum")
    shape = Counter(item.heatmap.shape for item in items).most_common(1)[0][0]
    included = [item for item in items if item.heatmap.shape == shape]
    total = np.zeros(shape, np.float32)
    for item in included:
        total += item.heatmap
    return HeatmapSum(total, included, len(items) - len(included))
