"""The `intensity_array` format of `heatmap_minutes`, exactly as db/README.md documents it.

Stored bytes are `zlib.compress(float32 array .tobytes())` in C order; readers decode them with
`np.frombuffer(zlib.decompress(b), np.float32).reshape(height, width)`.
"""

import zlib

import numpy as np

ZLIB_LEVEL = 6  # level 9 saves ~10% at 10-15x the time (docs/PERFORMANCE.md)


def encode_intensity(array: np.ndarray) -> bytes:
    """Compress a 2-D heatmap for the `intensity_array` column."""
    if array.ndim != 2:
        raise ValueError(f"a heatmap is 2-D, got shape {array.shape}")
    return zlib.compress(np.ascontiguousarray(array, dtype=np.float32).tobytes(), ZLIB_LEVEL)


def decode_intensity(blob: bytes, height: int, width: int) -> np.ndarray:
    """The float32 `height x width` array stored in an `intensity_array` value (read-only view)."""
    return np.frombuffer(zlib.decompress(blob), dtype=np.float32).reshape(height, width)
