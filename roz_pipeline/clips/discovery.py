"""Discovery: keeping the clip inventory (storage.inventory) current at the cost of what changed in the store, not
of what it holds. No Dagster. One implementation per kind of store, behind `ClipDiscovery`:

- `FolderDiscovery` (clips/folder_discovery.py; a local folder, NFS and SMB mounts too, where inotify sees nothing):
  a watermark per folder of the layout (its mtime and ctime when it was last listed, and a summary of the names it
  held); a look stats the window's folders and lists only those whose marks changed, stat'ing only the files it did
  not know (and those still being written). A tick looks at the recent hours' folders; the older hours of the late
  window are swept in turn, each at least every SWEEP_PERIOD, so a tick's cost does not grow with the history kept.
- `ListingDiscovery` (clips/s3_discovery.py; S3 and S3-compatible stores without notifications): a tick lists the
  recent hours' prefixes.
- `EventDiscovery` (S3 with bucket notifications to SQS, ROZ_S3_EVENTS_QUEUE_URL): a tick drains the queue within a
  budget and deletes the messages only after the inventory has committed them (at-least-once, idempotent).

Every kind also reconciles on the sensor's ticks: one slice of the late window in turn is listed whatever the marks
or events say, so the whole window is checked against the store every ROZ_RECONCILE_HOURS at a bounded cost per
tick; what reconciliation finds that the cheaper path missed is counted. Runs refresh their own window by listing
(a run from the UI or `roz materialize` sees what the store holds, with no daemon).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog, ClipProblem
from roz_pipeline.clips.stores import StoredKey
from roz_pipeline.core.timesteps import HOUR, MINUTE, floor
from roz_pipeline.storage import clip_problems, inventory
from roz_pipeline.storage.inventory import StoredClip

RECENT = 2 * HOUR  # what a tick looks at every time: the hour in progress and the one before it
MAX_SLICES_PER_TICK = 500  # a tick's sweep or reconciliation stays bounded; after a pause it catches up over ticks
# A turn stops for the tick once it parsed this many new keys (~12 s here): history found at once (Roz started on a
# week of recordings) is taken in over several ticks, each well within Dagster's 60 s.
NEW_KEYS_PER_TICK = 200_000


@dataclass
class DiscoveryCounts:
    """What discovery did, summed since it was made: what tests and bench/ingest.py count."""

    folders_checked: int = 0  # local folders stat'ed
    listings: int = 0  # folders or prefixes listed
    keys_parsed: int = 0  # keys read with the layout (new or changed ones only)
    keys_compared: int = 0  # keys of local listings compared with the inventory (a recorder's appends: the new ones)
    files_checked: int = 0  # local files stat'ed
    messages: int = 0  # event messages received
    changed: int = 0  # clips new, changed or back in the inventory
    gone: int = 0  # clips that left the store
    reconciled: int = 0  # clips reconciliation found new or changed: what the cheaper path had missed
    new_problems: list[ClipProblem] = field(default_factory=list)  # recorded for the first time
    errors: list[str] = field(default_factory=list)


@dataclass
class Rotation:
    """Where a turn through the late window is (reconciliation's or the folder sweep's): the next hour (and slice of
    it) to look at, and the slices earned but not looked at yet."""

    next_hour: str | None = None  # ISO
    credit: float = 0.0  # slices earned and not looked at yet
    last_at: str | None = None  # ISO: the tick that last earned slices
    next_slice: int = 0  # of the next hour's slices

    @classmethod
    def from_json(cls, data: dict | None) -> "Rotation":
        return cls(**(data or {}))

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class DiscoveryState:
    """What discovery keeps between the sensor's ticks (in its cursor): where its two turns are."""

    reconcile: Rotation = field(default_factory=Rotation)
    sweep: Rotation = field(default_factory=Rotation)

    @classmethod
    def from_json(cls, data: dict | None) -> "DiscoveryState":
        data = data or {}
        return cls(Rotation.from_json(data.get("reconcile")), Rotation.from_json(data.get("sweep")))

    def to_json(self) -> dict:
        return {"reconcile": self.reconcile.to_json(), "sweep": self.sweep.to_json()}


class ClipDiscovery(ABC):
    """Keeps the inventory of `catalog`'s store current for the `late_window` (ROZ_LATE_CLIP_DAYS) and any window
    a run asks for; `clock` is the wall clock of the store's own timestamps (file mtimes)."""

    def __init__(self, catalog: ClipCatalog, reconcile_hours: float, late_window: timedelta,
                 clock: Callable[[], datetime] | None = None):
        self.catalog = catalog
        self.store_id = catalog.store.describe()
        self.reconcile_period = timedelta(hours=reconcile_hours)
        self.late_window = late_window
        self.wall = clock or (lambda: datetime.now(timezone.utc))
        self.counts = DiscoveryCounts()
        self.new_keys_per_tick = NEW_KEYS_PER_TICK

    # -- what the callers ask ---------------------------------------------------------------------------------

    def refresh(self, conn: psycopg.Connection, camera_ids: list[str], start: datetime, end: datetime,
                now: datetime) -> None:
        """Make the inventory current for these cameras' clips starting in `start <= t < end` (a run's window, at
        `now`). Each camera's own prefixes: where cameras share a folder (Frigate's hour folders), the others' clips
        are their own runs' and the sensor's to look at (a run of ten cameras among a thousand lists ten folders)."""
        layout, sources = self.catalog.layout, self.catalog.sources_by_id
        prefixes = [prefix for camera_id in camera_ids
                    for prefix in layout.prefixes([sources[camera_id]], start - layout.longest_clip, end)]
        self._look_recent(conn, prefixes, self._reach(start, now))

    def poll(self, conn: psycopg.Connection, camera_ids: list[str], start: datetime, end: datetime,
             now: datetime) -> None:
        """The frequent look of a run following a window in progress."""
        self.refresh(conn, camera_ids, start, end, now)

    def tick(self, conn: psycopg.Connection, camera_ids: list[str], now: datetime,
             state: DiscoveryState) -> DiscoveryState:
        """The sensor's look at the late window before `now`, and its slice of reconciliation: the next slices of
        the window listed whatever the marks or events say, as many as keep the whole window re-checked every
        reconcile period. The root is checked on the first tick and whenever reconciliation starts over."""
        since = now - self.late_window
        sweep = self._recent(conn, camera_ids, now, since, state.sweep)
        before = self.counts.changed
        reconcile, wrapped = self._rotate(conn, state.reconcile, now, since, floor(now, HOUR) + HOUR,
                                          self.reconcile_period, lambda hour: self._slices(camera_ids, hour),
                                          force=True, first_credit=1.0)
        self.counts.reconciled += self.counts.changed - before
        self._check_root(conn, force=state.reconcile.last_at is None or wrapped)
        return DiscoveryState(reconcile, sweep)

    def new_problems(self) -> list[ClipProblem]:
        """The problems recorded for the first time since the last call."""
        found, self.counts.new_problems = self.counts.new_problems, []
        return found

    def take_errors(self) -> list[str]:
        """What the store or its event queue could not do since the last call (the rest was done)."""
        found, self.counts.errors = self.counts.errors, []
        return found

    # -- what each kind of store does -------------------------------------------------------------------------

    @abstractmethod
    def _look(self, conn: psycopg.Connection, prefixes: list[str], reach: datetime, force: bool) -> None:
        """Bring the inventory under `prefixes` up to date (`force`: list whatever the marks say); clips starting
        before `reach` are left out."""

    def _look_recent(self, conn: psycopg.Connection, prefixes: list[str], reach: datetime) -> None:
        """A look at prefixes where clips may still be written."""
        self._look(conn, prefixes, reach, force=False)

    def _recent(self, conn: psycopg.Connection, camera_ids: list[str], now: datetime, since: datetime,
                sweep: Rotation) -> Rotation:
        """The part of a tick that runs every time: the recent hours; the sweep's new place."""
        self._look_recent(conn, self._prefixes(camera_ids, max(since, now - RECENT), now + MINUTE),
                          self._reach(since, now))
        return sweep

    def _reach(self, start: datetime, now: datetime) -> datetime:
        """How far back a look keeps what it lists: its window, and always the whole late window (a folder listed
        for a run's window is not listed again for the sensor's until it changes)."""
        return min(start, now - self.late_window) - self.catalog.layout.longest_clip

    def _check_root(self, conn: psycopg.Connection, force: bool) -> None:
        """Folders of unregistered cameras and stray files at the root (layouts starting with the camera)."""
        if force:
            self._record_root_problems(conn)

    # -- shared ---------------------------------------------------------------------------------------------

    def _prefixes(self, camera_ids: list[str], start: datetime, end: datetime) -> list[str]:
        sources = [self.catalog.sources_by_id[c] for c in camera_ids]
        return self.catalog.layout.prefixes(sources, start - self.catalog.layout.longest_clip, end)

    def _rotate(self, conn: psycopg.Connection, state: Rotation, now: datetime, since: datetime, edge: datetime,
                period: timedelta, slices_of: Callable[[datetime], list[list[str]]], force: bool,
                first_credit: float | None) -> tuple[Rotation, bool]:
        """Look at the next slices (`slices_of(hour)`) of the late window's hours before `edge`, as many as keep
        every slice looked at once per `period` (the time since the last tick earns them, at most
        MAX_SLICES_PER_TICK, and none more once `new_keys_per_tick` keys were parsed: the rest stays earned);
        `force`: list them whatever their marks. The first tick looks at `first_credit` slices (None: the whole
        window). The new state, and whether a turn started over."""
        window_start = floor(since, HOUR)
        if edge <= window_start:
            return state, False
        in_window = max(1, round((edge - window_start) / HOUR)) * len(slices_of(window_start))
        earned = (now - datetime.fromisoformat(state.last_at)) / period if state.last_at else 0.0
        if state.last_at is None:
            credit = in_window if first_credit is None else first_credit
        else:
            credit = min(state.credit + max(0.0, earned) * in_window, in_window)
        due = min(int(credit), MAX_SLICES_PER_TICK)
        stored = datetime.fromisoformat(state.next_hour) if state.next_hour else None
        position = max(stored or window_start, window_start)
        index = state.next_slice if stored == position else 0  # a place that left the window starts its hour
        wrapped, done, budget = False, 0, self.counts.keys_parsed + self.new_keys_per_tick
        while done < due and self.counts.keys_parsed < budget:
            if position >= edge:
                position, index, wrapped = window_start, 0, True
            slices = slices_of(position)
            for prefixes in slices[index:index + due - done]:
                self._look(conn, prefixes, self._reach(since, now), force=force)
                done, index = done + 1, index + 1
                if self.counts.keys_parsed >= budget:  # history taken in over several ticks
                    break
            if index >= len(slices):
                position, index = position + HOUR, 0
        return Rotation(position.isoformat(), credit - done, now.isoformat(), index), wrapped

    def _slices(self, camera_ids: list[str], hour: datetime) -> list[list[str]]:
        """What reconciliation lists together, for the clips starting in `hour`: each of the hour's prefixes."""
        return [[prefix] for prefix in self._hour_prefixes(camera_ids, hour)]

    def _hour_prefixes(self, camera_ids: list[str], hour: datetime) -> list[str]:
        return self.catalog.layout.prefixes([self.catalog.sources_by_id[c] for c in camera_ids], hour, hour + HOUR)

    def _apply(self, conn: psycopg.Connection, present: set[str], examine: list[StoredKey], known: dict,
               known_problems: set[str], reach: datetime, observed_at: datetime) -> None:
        """Complete listings found `present` where the inventory had `known` (key -> (version, modified_at)) and
        `known_problems`; `examine` holds the keys that are new or may have changed. Upsert what changed, mark what
        left the store gone, record new problems and clear those whose key is gone."""
        clips, problems = [], []
        for stored in examine:
            if known.get(stored.key, (None,))[0] == stored.version:
                continue
            self.counts.keys_parsed += 1
            found = self.catalog.classify(stored)
            if isinstance(found, ClipProblem):
                problems.append(found)
                name = found.camera_name  # an unregistered camera's clip: kept for when it is registered
            else:
                name = self.catalog.sources_by_id[found.camera_id]
            if name is not None and found.start >= reach:
                clips.append(StoredClip(stored.key, name, found.start, stored.size, stored.version, stored.modified_at))
        self.counts.changed += len(inventory.upsert_clips(conn, self.store_id, clips, observed_at))
        self.counts.gone += len(inventory.mark_gone(conn, self.store_id, set(known) - present, observed_at))
        self.record(conn, problems)
        clip_problems.clear_problems(conn, self.store_id, known_problems - present)

    def record(self, conn: psycopg.Connection, problems: list[ClipProblem]) -> None:
        """Record problems; those recorded for the first time are new_problems()."""
        self.counts.new_problems += [ClipProblem(key, message) for key, message in clip_problems.record_problems(
            conn, self.store_id, [(p.key, p.camera_name, p.message) for p in problems])]

    def _record_root_problems(self, conn: psycopg.Connection) -> None:
        problems = self.catalog.root_problems()
        self.record(conn, problems)
        depth = 1 if self.catalog.layout.template.count("/") > 1 else 0  # what root_problems looks at
        at_root = {key for key in clip_problems.problems_under(conn, self.store_id, [""])
                   if key.rstrip("/").count("/") <= depth}
        clip_problems.clear_problems(conn, self.store_id, at_root - {p.key for p in problems})
