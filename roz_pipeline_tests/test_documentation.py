"""The documents tell the truth: docs/CONFIGURATION.md names every setting with its default."""

import dataclasses
import re

from roz_pipeline.registry import Camera
from roz_pipeline.settings import REPO_ROOT

CONFIGURATION = REPO_ROOT / "docs" / "CONFIGURATION.md"
SETTINGS = REPO_ROOT / "roz_pipeline" / "settings.py"
READ_BY_LIBRARIES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # boto3 reads them, Roz passes nothing
TEST_SETTINGS = {"ROZ_TEST_DATABASE_URL", "ROZ_TEST_REQUIRE_ALL"}  # read by the tests, not the package


def _table_rows(text: str) -> dict[str, tuple[str, str]]:
    """Each documented name (every backticked name in a row's first cell) -> (meaning, default)."""
    rows = {}
    for first, meaning, default in re.findall(r"^\| ([^|]+) \| (.+) \| ([^|]+) \|$", text, re.MULTILINE):
        for name in re.findall(r"`([A-Za-z_]+)`", first):
            rows[name] = (meaning, default)
    return rows


def _settings_read() -> dict[str, str | None]:
    """Every variable settings.py reads -> its default as written there (None where it has none)."""
    source = SETTINGS.read_text()
    names = dict.fromkeys(re.findall(r'"((?:ROZ|AWS|DAGSTER)_[A-Z_]+|DATABASE_URL)"', source))
    for name, default in re.findall(r'(?:env|_positive|_choice)\("([A-Z_]+)", "([^"]*)"', source):
        names[name] = default
    constants = dict(re.findall(r'^(DEFAULT_[A-Z_]+) = "([^"]*)"', source, re.MULTILINE))
    for name, constant in re.findall(r'(?:env|_positive|_choice)\("([A-Z_]+)", (DEFAULT_[A-Z_]+)', source):
        names[name] = constants[constant]
    for name, constant in (("ROZ_CELERY_BROKER", "DEFAULT_CELERY_BROKER"), ("ROZ_CELERY_BACKEND", "DEFAULT_CELERY_BACKEND")):
        names[name] = constants[constant]  # read through CELERY_BROKER / CELERY_BACKEND
    for name in re.findall(r'if env\("([A-Z_]+)"\) else None', source):
        names[name] = None  # read only when set: no default
    return names


def test_configuration_names_every_variable_settings_reads_and_no_other():
    documented = _table_rows(CONFIGURATION.read_text())
    variables = {name for name in documented if name.isupper()}
    read = _settings_read()
    assert read.keys() - variables == set(), "read by settings.py, not in docs/CONFIGURATION.md"
    assert variables - read.keys() - READ_BY_LIBRARIES - TEST_SETTINGS == set(), "documented, never read"


def test_configuration_gives_each_variable_the_default_settings_uses():
    documented = _table_rows(CONFIGURATION.read_text())
    for name, default in _settings_read().items():
        if default is not None and name != "DAGSTER_HOME":
            assert f"`{default}`" in documented[name][1], (name, default, documented[name][1])


def test_configuration_names_every_registry_key_with_its_default():
    documented = _table_rows(CONFIGURATION.read_text())
    for field in dataclasses.fields(Camera):
        if field.name == "camera_id":
            continue
        assert field.name in documented, field.name
        if isinstance(field.default, (int, float, str)):
            shown = re.search(r"`([^`]+)`", documented[field.name][1])
            assert shown, (field.name, documented[field.name][1])
            value = shown.group(1)
            assert (float(value) == field.default) if isinstance(field.default, (int, float)) \
                else value == field.default, (field.name, field.default, value)
