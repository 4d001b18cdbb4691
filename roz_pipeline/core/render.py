"""Pictures of heatmaps: over a camera still, or on their own, as PNG (or JPEG) bytes.

Colours are scaled to a high percentile of the moving pixels, not to the maximum, so one busy pixel (a flag, a
blinking light) does not wash out everything else. Pixels where nothing moved stay transparent. With a `legend`
(the unit, e.g. "frames moved"), a strip under the picture shows the colour scale and its values.
"""

import math

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
    number = legend_number(scale)
    strip = _legend_strip(bar, f"-{number} (quieter)", f"{legend}: period minus baseline", f"+{number} (busier)")
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
    return _legend_strip(bar, "0", unit, f"{legend_number(scale)}+")


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


def legend_number(value: float) -> str:
    """`value` to 3 significant digits, thousands separated, never in e-notation: 31,800, 2.5, 0.0123."""
    rounded = float(f"{value:.3g}")
    if rounded == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{rounded:,.0f}"


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


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NO_DATA_COLOR = (205, 205, 205)  # BGR light grey: a weekday-hour with no footage
CELL_WIDTH, CELL_HEIGHT, LABEL_WIDTH, HEADER_HEIGHT = 22, 20, 36, 16


def render_week(values: np.ndarray, unit: str = "activity per minute") -> bytes:
    """A 7 x 24 grid (weekday rows from Monday, UTC hour columns) of `values`, NaN where there is no data, coloured
    from 0 to the largest value, with a legend. PNG."""
    if values.shape != (7, 24):
        raise ValueError(f"a week grid is 7 x 24, got {values.shape}")
    known = values[~np.isnan(values)]
    scale = float(known.max()) if known.size and known.max() > 0 else 1.0
    width = LABEL_WIDTH + 24 * CELL_WIDTH
    grid = np.full((HEADER_HEIGHT + 7 * CELL_HEIGHT, width, 3), 255, np.uint8)
    font, size, ink = cv2.FONT_HERSHEY_SIMPLEX, 0.35, (40, 40, 40)
    for hour in range(0, 24, 3):
        cv2.putText(grid, f"{hour:02d}", (LABEL_WIDTH + hour * CELL_WIDTH + 3, HEADER_HEIGHT - 4), font, size, ink, 1,
                    cv2.LINE_AA)
    for day in range(7):
        top = HEADER_HEIGHT + day * CELL_HEIGHT
        cv2.putText(grid, WEEKDAYS[day], (3, top + CELL_HEIGHT - 6), font, size, ink, 1, cv2.LINE_AA)
        for hour in range(24):
            grid[week_cell(day, hour)] = week_cell_color(values[day, hour], scale)
    legend = _sequential_legend(width, scale, unit)
    return _encode(np.vstack([grid, legend]), "png")


def week_cell_color(value: float, scale: float) -> tuple[int, int, int]:
    """The BGR colour of one week-grid cell."""
    if np.isnan(value):
        return NO_DATA_COLOR
    level = np.uint8(round(255 * min(max(value / scale, 0.0), 1.0)))
    return tuple(int(c) for c in cv2.applyColorMap(np.array([[level]], np.uint8), COLORMAP)[0, 0])


def week_cell(day: int, hour: int) -> tuple[slice, slice]:
    """The rows and columns a cell of render_week's picture fills (inside its one-pixel border)."""
    top, left = HEADER_HEIGHT + day * CELL_HEIGHT, LABEL_WIDTH + hour * CELL_WIDTH
    return slice(top + 1, top + CELL_HEIGHT - 1), slice(left + 1, left + CELL_WIDTH - 1)


def render_hour_bars(values: list[float], unit: str = "activity per minute") -> bytes:
    """24 bars, one per UTC hour of a day (NaN: no footage, drawn as a grey tick), scaled to the largest. PNG."""
    if len(values) != 24:
        raise ValueError(f"24 hours, got {len(values)}")
    return render_bars(values, {hour: f"{hour:02d}" for hour in range(0, 24, 3)}, unit)


def render_bars(values: list[float], labels: dict[int, str], unit: str = "activity per minute") -> bytes:
    """A bar per value (NaN: no footage, a grey tick), scaled to the largest, in the width of the week grid;
    `labels`: bar index -> its label under the chart. PNG."""
    height, width = 90, LABEL_WIDTH + 24 * CELL_WIDTH
    chart = np.full((height + HEADER_HEIGHT, width, 3), 255, np.uint8)
    known = [v for v in values if not np.isnan(v)]
    scale = max(known) if known and max(known) > 0 else 1.0
    step = 24 * CELL_WIDTH / max(1, len(values))
    gap = min(3, int(step // 4))
    font, size, ink = cv2.FONT_HERSHEY_SIMPLEX, 0.35, (40, 40, 40)
    for index, value in enumerate(values):
        left, right = LABEL_WIDTH + round(index * step) + gap, LABEL_WIDTH + round((index + 1) * step) - gap
        if np.isnan(value):
            chart[height - 2:height, left:max(left + 1, right)] = NO_DATA_COLOR
            continue
        top = height - max(1, round((height - 4) * value / scale))
        chart[top:height, left:max(left + 1, right)] = week_cell_color(value, scale)
    for index, label in labels.items():
        cv2.putText(chart, label, (LABEL_WIDTH + round(index * step) + 3, height + HEADER_HEIGHT - 4), font, size,
                    ink, 1, cv2.LINE_AA)
    cv2.putText(chart, legend_number(scale), (2, 12), font, size, ink, 1, cv2.LINE_AA)
    return _encode(np.vstack([chart, _sequential_legend(width, scale, unit)]), "png")
