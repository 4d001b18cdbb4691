"""The `intensity_array` format of `heatmap_minutes`, exactly as db/README.md documents it.

Stored bytes are a zlib stream of the float32 array's bytes in C order; readers decode them with
`np.frombuffer(zlib.decompress(b), np.float32).reshape(height, width)`. The stream is written by libdeflate (the
`deflate` package), whose encoder finds shorter matches than the stdlib's at a small cost (bench/extract.py), and
read by its decoder, ~14x the stdlib's on a 270x480 minute (bench/explore.py's drawn rectangles lean on it); the
stdlib's zlib does both when that package is missing. Either way any zlib reader decodes the rows.
"""

import zlib

import numpy as np

try:
    import deflate
except ImportError:  # pragma: no cover - exercised by the fallback test, which hides the module
    deflate = None

DECODE_ERRORS = (zlib.error, deflate.DeflateError) if deflate is not None else (zlib.error,)

LIBDEFLATE_LEVEL = 10  # 11: ~1% smaller rows for twice the CPU, over 5% of extraction (bench/extract.py)
ZLIB_LEVEL = 6  # the fallback: level 9 saves ~10% at 10x the CPU


def encode_intensity(array: np.ndarray) -> bytes:
    """Compress a 2-D heatmap for the `intensity_array` column."""
    if array.ndim != 2:
        raise ValueError(f"a heatmap is 2-D, got shape {array.shape}")
    raw = np.ascontiguousarray(array, dtype=np.float32).tobytes()
    if deflate is not None:
        return deflate.zlib_compress(raw, LIBDEFLATE_LEVEL)
    return zlib.compress(raw, ZLIB_LEVEL)


def decode_intensity(blob: bytes, height: int, width: int) -> np.ndarray:
    """The float32 `height x width` array stored in an `intensity_array` value (read-only view). Raises ValueError
    when the bytes are not a zlib stream of exactly that array."""
    size = height * width * np.dtype(np.float32).itemsize
    try:
        raw = deflate.zlib_decompress(blob, size) if deflate is not None else zlib.decompress(blob)
    except DECODE_ERRORS as exc:
        raise ValueError(f"intensity_array is not a zlib stream of a {height}x{width} float32 array ({exc})") from None
    if len(raw) != size:
        raise ValueError(f"intensity_array holds {len(raw)} bytes, a {height}x{width} float32 array {size}")
    return np.frombuffer(raw, dtype=np.float32).reshape(height, width)
