"""Pictures of heatmaps: over a camera still, or on their own, as PNG (or JPEG) bytes.

Colours are scaled to a high percentile of the moving pixels, not to the maximum, so one busy pixel (a flag, a
blinking light) does not wash out everything else. Pixels where nothing moved stay transparent.
"""

import cv2
import numpy as np

MIN_WIDTH, MAX_WIDTH = 480, 960
COLOR_PERCENTILE = 99.0
COLORMAP = cv2.COLORMAP_INFERNO


def color_scale(heatmap: np.ndarray, percentile: float = COLOR_PERCENTILE) -> float:
    """The value drawn at full colour: the `percentile` of the non-zero pixels (1.0 for an empty map)."""
    moving = heatmap[heatmap > 0]
    return float(np.percentile(moving, percentile)) if moving.size else 1.0


def render_heatmap(heatmap: np.ndarray, width: int | None = None, percentile: float = COLOR_PERCENTILE) -> bytes:
    """The bare heatmap as an RGBA PNG, transparent where nothing moved."""
    size = _output_size(heatmap.shape, width)
    colors, alpha = _colorize(cv2.resize(heatmap, size, interpolation=cv2.INTER_NEAREST), percentile)
    return _encode(np.dstack([colors, alpha]), "png")


def render_overlay(
    heatmap: np.ndarray,
    still: np.ndarray,
    width: int | None = None,
    percentile: float = COLOR_PERCENTILE,
    image_format: str = "png",
) -> bytes:
    """The heatmap blended over a grey still of the camera, as PNG (or "jpeg": ~10x smaller, for run metadata)."""
    size = _output_size(still.shape[:2], width)
    grey = cv2.resize(still, size, interpolation=cv2.INTER_AREA)
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) if grey.ndim == 2 else grey
    colors, alpha = _colorize(cv2.resize(heatmap, size, interpolation=cv2.INTER_LINEAR), percentile)
    weight = (alpha.astype(np.float32) / 255.0)[..., None]
    blended = base.astype(np.float32) * (1 - weight) + colors.astype(np.float32) * weight
    return _encode(blended.astype(np.uint8), image_format)


def _colorize(heatmap: np.ndarray, percentile: float) -> tuple[np.ndarray, np.ndarray]:
    scaled = np.clip(heatmap / color_scale(heatmap, percentile), 0.0, 1.0)
    colors = cv2.applyColorMap((scaled * 255).astype(np.uint8), COLORMAP)
    # Faint motion stays see-through, the busiest areas nearly opaque.
    alpha = np.where(heatmap > 0, 90 + scaled * 140, 0).astype(np.uint8)
    return colors, alpha


def _output_size(shape: tuple[int, ...], width: int | None) -> tuple[int, int]:
    height, source_width = shape[:2]
    width = width or min(max(source_width, MIN_WIDTH), MAX_WIDTH)  # sizes that render fast
    return width, max(1, round(height * width / source_width))


def _encode(image: np.ndarray, image_format: str) -> bytes:
    options = {"png": [cv2.IMWRITE_PNG_COMPRESSION, 3], "jpeg": [cv2.IMWRITE_JPEG_QUALITY, 75]}[image_format]
    ok, data = cv2.imencode(f".{image_format}", image, options)
    if not ok:
        raise ValueError(f"could not encode a {image.shape} image as {image_format}")
    return data.tobytes()
