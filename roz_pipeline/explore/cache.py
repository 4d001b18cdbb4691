"""The explorer's pictures, kept by their inputs: the request (route and query) and a digest of the stored rows
the picture reads with when each was written (`usecases.insight.period_inputs`). A picture is drawn once until a row
behind it changes; the digest is also its ETag, so a browser that has it gets a 304 without a body. The still under a
heatmap is the one found when it was first drawn (a clip arriving later for the same hour does not redraw it)."""

import threading
from collections import OrderedDict
from collections.abc import Callable

PICTURES_KEPT = 256  # pictures kept (most are 20-80 KB: ~10 MB at most); the least recently used go first


class PictureCache:
    def __init__(self, capacity: int = PICTURES_KEPT):
        self.capacity = capacity
        self.drawn = 0  # pictures rendered (a test counts them)
        self._pictures: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()  # requests are served from a thread pool

    def picture(self, key: tuple, draw: Callable[[], bytes]) -> bytes:
        """The picture kept for `key`, drawn first when there is none."""
        with self._lock:
            if key in self._pictures:
                self._pictures.move_to_end(key)
                return self._pictures[key]
        picture = draw()
        with self._lock:
            self.drawn += 1
            self._pictures[key] = picture
            while len(self._pictures) > self.capacity:
                self._pictures.popitem(last=False)
        return picture
