"""Pictures of heatmaps: over a camera still, or on their own, as PNG (or JPEG) bytes.

Colours are scaled to a high percentile of the moving pixels, not to the maximum, so one busy pixel (a flag, a
blinking light) does not wash out everything else. Pixels where nothing moved stay transparent. With a `legend`
(the unit, e.g. "frames moved"), a strip under the picture shows the colour scale and its values.
"""

import cv2
import numpy as np

MIN_WIDTH, MAX_WIDTH = 480, 960
COLOR_PERCENTILE = 99.0
COLORMAP = cv2.COLORMAP_INFERNO
LEGEND_HEIGHT = 30
MORE_COLOR = np.array([40, 40, 230], np.float32)  # BGR red: busier than the baseline
LESS_COLOR = np.array([230, 140, 30], np.float32)  # BGR blue: quieter


def color_scale(heatmap: np.ndarray, percentile: float = COLOR_PERCENTILE) -> float:
    """The value drawn at full colour: the `percentile` of the non-zero pixels' magnitude (1.0 for an empty map)."""
    moving = np.abs(heatmap[heatmap != 0])
    return float(np.percentile(moving, percentile)) if moving.size else 1.0


def render_heatmap(heatmap: np.ndarray, width: int | None = None, percentile: float = COLOR_PERCENTILE,
                   legend: str | None = None) -> bytes:
    """The bare heatmap as an RGBA PNG, transparent where nothing moved."""
    size = _output_size(heatmap.shape, width)
    scale = color_scale(heatmap, percentile)
    colors, alpha = _colorize(cv2.resize(heatmap, size, interpolation=cv2.INTER_NEAREST), scale)
    image = np.dstack([colors, alpha])
    if legend:
        strip = _sequential_legend(size[0], scale, legend)
        image = np.vstack([image, np.dstack([strip, np.full(strip.shape[:2], 255, np.uint8)])])
    return _encode(image, "png")


def render_overlay(
    heatmap: np.ndarray,
    still: np.ndarray,
    width: int | None = None,
    percentile: float = COLOR_PERCENTILE,
    image_format: str = "png",
    legend: str | None = None,
) -> bytes:
    """The heatmap blended over a grey still of the camera, as PNG (or "jpeg": ~10x smaller, for run metadata)."""
    base = _grey_base(still, width)
    size = base.shape[1], base.shape[0]
    scale = color_scale(heatmap, percentile)
    colors, alpha = _colorize(cv2.resize(heatmap, size, interpolation=cv2.INTER_LINEAR), scale)
    image = _blend(base, colors, alpha)
    if legend:
        image = np.vstack([image, _sequential_legend(size[0], scale, legend)])
    return _encode(image, image_format)


def render_difference(difference: np.ndarray, still: np.ndarray | None, width: int | None = None,
                      percentile: float = COLOR_PERCENTILE, legend: str = "change") -> bytes:
    """A signed map (period minus baseline) in diverging colours, red where busier, blue where quieter, over
    the still (or a mid-grey background), with its legend. PNG."""
    if still is None:
        still = np.full(difference.shape, 128, np.uint8)
    base = _grey_base(still, width)
    size = base.shape[1], base.shape[0]
    scale = color_scale(difference, percentile)
    scaled = np.clip(cv2.resize(difference, size, interpolation=cv2.INTER_LINEAR) / scale, -1.0, 1.0)
    colors = np.where(scaled[..., None] > 0, MORE_COLOR, LESS_COLOR).astype(np.uint8)
    alpha = np.where(scaled != 0, 60 + np.abs(scaled) * 170, 0).astype(np.uint8)
    image = _blend(base, colors, alpha)
    ramp = np.linspace(-1.0, 1.0, size[0])[:, None]
    bar = (np.where(ramp > 0, MORE_COLOR, LESS_COLOR) * np.abs(ramp) + 200 * (1 - np.abs(ramp))).astype(np.uint8)
    strip = _legend_strip(bar, f"-{_number(scale)} (quieter)", f"{legend}: period minus baseline", f"+{_number(scale)} (busier)")
    return _encode(np.vstack([image, strip]), "png")


def _grey_base(still: np.ndarray, width: int | None) -> np.ndarray:
    size = _output_size(still.shape[:2], width)
    grey = cv2.resize(still, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR) if grey.ndim == 2 else grey


def _blend(base: np.ndarray, colors: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    weight = (alpha.astype(np.float32) / 255.0)[..., None]
    return (base.astype(np.float32) * (1 - weight) + colors.astype(np.float32) * weight).astype(np.uint8)


def _colorize(heatmap: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    scaled = np.clip(heatmap / scale, 0.0, 1.0)
    colors = cv2.applyColorMap((scaled * 255).astype(np.uint8), COLORMAP)
    # Faint motion stays see-through, the busiest areas nearly opaque.
    alpha = np.where(heatmap > 0, 90 + scaled * 140, 0).astype(np.uint8)
    return colors, alpha


def _sequential_legend(width: int, scale: float, unit: str) -> np.ndarray:
    bar = cv2.applyColorMap(np.linspace(0, 255, width).astype(np.uint8)[:, None], COLORMAP)
    return _legend_strip(bar, "0", unit, f"{_number(scale)}+")


def _legend_strip(bar: np.ndarray, left: str, middle: str, right: str) -> np.ndarray:
    """A white strip: the colour bar (`bar`: width x 1 x 3 BGR) on top, texts under its left end, middle and right
    end."""
    width = bar.shape[0]
    strip = np.full((LEGEND_HEIGHT, width, 3), 255, np.uint8)
    strip[2:12] = bar.reshape(1, width, 3)
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.38
    for text, anchor in ((left, 0.0), (middle, 0.5), (right, 1.0)):
        text_width = cv2.getTextSize(text, font, size, 1)[0][0]
        x = int(min(max(anchor * width - text_width * anchor, 2), width - text_width - 2))
        cv2.putText(strip, text, (x, LEGEND_HEIGHT - 5), font, size, (40, 40, 40), 1, cv2.LINE_AA)
    return strip


def _number(value: float) -> str:
    return f"{value:.3g}"


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
