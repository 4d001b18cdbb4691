"""Hostile names never reach SQL, the filesystem or S3, and no query is built by formatting values into SQL."""

import ast
import re
from datetime import datetime, timezone

import pytest

from roz_pipeline.clips.layout import ClipLayout, ClipName, LayoutError
from roz_pipeline.clips.stores import ClipStoreError, LocalClipStore
from roz_pipeline.registry import RegistryError, check_camera_id, load_registry
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.minutes import minutes_between

HOSTILE_CAMERA_IDS = [
    "lobby'; DROP TABLE heatmap_minutes; --", 'lobby"', "lob;by", "../etc", "/etc/passwd", "..", "lob/by",
    "lоbby",  # Cyrillic о
    "ｌobby",  # full-width l
    "lobby\n", "lob\x00by", "lob\x1bby", "a" * 51, "", "-lobby", "_lobby", "Lobby", "lobby ",
]


@pytest.mark.parametrize("camera_id", HOSTILE_CAMERA_IDS, ids=repr)
def test_hostile_camera_ids_are_refused_by_the_registry(tmp_path, camera_id):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  " + _yaml_key(camera_id) + ": {}\n", encoding="utf-8")
    with pytest.raises(RegistryError):
        load_registry(registry)


@pytest.mark.parametrize("camera_id", HOSTILE_CAMERA_IDS, ids=repr)
def test_hostile_camera_ids_never_reach_a_query(camera_id):
    class NoDatabase:
        def execute(self, *args, **kwargs):
            raise AssertionError("a query ran for a hostile camera id")

    with pytest.raises(ValueError, match="invalid camera id"):
        check_camera_id(camera_id)
    with pytest.raises(ValueError, match="invalid camera id"):
        minutes_between(NoDatabase(), camera_id, datetime.now(timezone.utc), datetime.now(timezone.utc))


@pytest.mark.parametrize("key", [
    "../lobby/2026-11-20/14-03.mp4", "/lobby/2026-11-20/14-03.mp4", "lobby/../../etc/14-03.mp4",
    "lobby/2026-11-20/../14-03.mp4", "lobby/2026-11-20/14-03.mp4/../../x.mp4", "lobby'/2026-11-20/14-03.mp4",
    "lоbby/2026-11-20/14-03.mp4", "lobby/2026-11-20/14-03.mp4\n", "lobby/2026-11-20/14-03.exe",
    "lobby/2026-13-20/14-03.mp4", "lobby/2026-11-20/25-03.mp4", "lobby\\2026-11-20\\14-03.mp4",
    "a" * 65 + "/2026-11-20/14-03.mp4",
])
def test_hostile_clip_keys_are_layout_errors(key):
    with pytest.raises(LayoutError):
        ClipLayout.from_setting("roz").parse(key)


def test_the_layout_accepts_exactly_the_documented_keys():
    assert ClipLayout.from_setting("roz").parse("front-door_2/2026-11-20/14-03.MKV") == ClipName(
        "front-door_2", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc))


def _yaml_key(text: str) -> str:
    escaped = text.encode("unicode_escape").decode().replace('"', '\\"')
    return f'"{escaped}"'


# -- parameterized SQL everywhere -------------------------------------------------------------------------------


def _unsafe_sql_arguments(source: str, filename: str) -> list[str]:
    """Calls to .execute() whose SQL is built from values: f-strings of non-constants, %, +, .format() on str."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "execute"
                and node.args):
            continue
        query = node.args[0]
        if _is_safe_query(query):
            continue
        problems.append(f"{filename}:{node.lineno}: {ast.unparse(query)[:80]}")
    return problems


def _is_safe_query(query: ast.expr) -> bool:
    if isinstance(query, ast.Constant) and isinstance(query.value, (str, bytes)):
        return True
    if isinstance(query, ast.JoinedStr):  # f-strings may only interpolate module constants (table names)
        return all(isinstance(v.value, ast.Name) and v.value.id.isupper()
                   for v in query.values if isinstance(v, ast.FormattedValue))
    if isinstance(query, ast.Call) and isinstance(query.func, ast.Attribute):
        # sql.SQL("...").format(sql.Identifier(...)): psycopg's safe composition
        if query.func.attr == "format" and isinstance(query.func.value, ast.Call) and \
                ast.unparse(query.func.value.func) == "sql.SQL":
            return True
        # a migration file's own text, which is SQL by definition
        if query.func.attr == "encode" and ast.unparse(query.func.value) == "migration.sql":
            return True
    return False


def test_no_query_in_roz_is_built_by_formatting_values():
    problems = [p for path in sorted((REPO_ROOT / "roz_pipeline").rglob("*.py"))
                for p in _unsafe_sql_arguments(path.read_text(), str(path.relative_to(REPO_ROOT)))]
    assert problems == []


@pytest.mark.parametrize("unsafe", [
    'conn.execute(f"SELECT * FROM heatmap_minutes WHERE camera_id = \'{camera_id}\'")',
    'conn.execute("SELECT * FROM heatmap_minutes WHERE camera_id = \'%s\'" % camera_id)',
    'conn.execute("SELECT * FROM heatmap_minutes WHERE camera_id = \'{}\'".format(camera_id))',
    'conn.execute("SELECT * FROM heatmap_minutes WHERE camera_id = \'" + camera_id + "\'")',
])
def test_the_check_catches_a_formatted_query(unsafe):
    assert _unsafe_sql_arguments(unsafe, "example.py")


def test_sql_lives_in_the_migrations_and_the_data_access_modules():
    allowed = {str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "roz_pipeline" / "storage").glob("*.py")}
    users = {str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "roz_pipeline").rglob("*.py")
             if ".execute(" in path.read_text()}
    assert users <= allowed, users - allowed


def test_every_documented_webserver_command_binds_to_localhost():
    """docs/RELIABILITY.md promises it: the UI has no login, so no documented command exposes it."""
    documents = [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md"), *(REPO_ROOT / "deploy").rglob("*.md")]
    blocks = [block for path in documents for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(), re.S)]
    commands = [line for block in blocks for line in block.splitlines()
                if re.search(r"dagster dev|dagster-webserver", line)]
    assert len(commands) >= 2  # README's `dagster dev`, deploy/README's `dagster-webserver`
    for command in commands:
        assert "-h 127.0.0.1" in command and "0.0.0.0" not in command, command


def test_a_link_swapped_in_after_the_path_was_checked_is_still_refused(tmp_path, monkeypatch):
    """The store checks the file it opened, not only the path it checked: a link that appears between the two (the
    path check passed, then the recorder's folder changed) does not lead outside."""
    root = tmp_path / "videos"
    (root / "lobby" / "2026-11-20").mkdir(parents=True)
    (tmp_path / "secret.sh").write_text("PGPASSWORD=hunter2\n")
    (root / "lobby" / "2026-11-20" / "14-00.mp4").symlink_to(tmp_path / "secret.sh")
    store = LocalClipStore(root)
    monkeypatch.setattr(store, "readable", lambda key: root / key)  # as if the link came after the path's check

    with pytest.raises(ClipStoreError, match="not a file inside the clip folder"):
        store.opened("lobby/2026-11-20/14-00.mp4")
