"""The package's shape, as the README describes it and a newcomer relies on: layers that import only downwards, one
reader of the environment, small modules and functions, and a layout table that matches the tree."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "roz_pipeline"
README = PACKAGE.parent / "README.md"
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)
LONG_MODULES_ALLOWED = {"roz_pipeline/storage/migrations.py"}  # the migration runner: one careful procedure
BENCHES = sorted((PACKAGE.parent / "bench").glob("*.py"))  # scripts importing each other from their folder
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60
# What each layer may import of the package (besides itself): the pure core nothing, the CLI and Dagster on top.
LAYERS = {
    "core": set(),
    "storage": {"core", "registry", "settings"},
    "clips": {"core", "storage", "registry", "settings"},
    "mqtt": set(),
    "usecases": {"core", "storage", "clips", "registry", "settings"},
    "lib": {"core", "storage", "clips", "mqtt", "usecases", "registry", "settings"},
    "defs": {"core", "storage", "clips", "mqtt", "usecases", "registry", "settings", "lib"},
    "explore": {"core", "storage", "clips", "usecases", "registry", "settings"},
    "cli": {"core", "storage", "clips", "usecases", "registry", "settings", "lib", "defs", "definitions", "explore"},
}
DAGSTER_ALLOWED = {"defs", "lib", "definitions.py", "cli/runs.py", "cli/demo.py"}  # the commands that start runs
PRIVATE_DAGSTER = PACKAGE / "lib" / "private_dagster.py"  # the one module importing dagster._ (it says why)


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _imports(path: Path) -> list[str]:
    """Every module `path` imports, at any depth (imports inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_only_the_layers_below_it(layer):
    wrong = [f"{_relative(path)} imports {name}" for path in MODULES if _relative(path).startswith(f"{layer}/")
             for name in _imports(path) if name.startswith("roz_pipeline.")
             and name.split(".")[1] not in LAYERS[layer] | {layer}]
    assert not wrong


def test_only_the_dagster_layer_and_the_commands_that_start_runs_import_dagster():
    wrong = [_relative(path) for path in MODULES
             if any(name.split(".")[0] in ("dagster", "dagster_aws", "dagster_postgres") for name in _imports(path))
             and not any(_relative(path) == allowed or _relative(path).startswith(f"{allowed}/")
                         for allowed in DAGSTER_ALLOWED)]
    assert not wrong


def test_only_one_module_imports_dagsters_private_modules():
    """Dagster's private modules (`dagster._...`) move between versions: the package, its tests and benches take
    what they need of them from the one module that says why."""
    files = [path for folder in ("roz_pipeline", "roz_pipeline_tests", "bench")
             for path in (PACKAGE.parent / folder).rglob("*.py") if "__pycache__" not in path.parts]
    wrong = [f"{path.relative_to(PACKAGE.parent)} imports {name}" for path in files if path != PRIVATE_DAGSTER
             for name in _imports(path) if name.startswith("dagster._")]
    assert PRIVATE_DAGSTER.exists() and not wrong


def test_defs_holds_only_the_domains_each_built_by_its_factory_and_listed_in_domains():
    """Every module of defs/ is a domain: `build_domain(served)` returns its Definitions, and DOMAINS lists it (a
    module left out would not be loaded); what the domains share is in lib/. No asset, check, job, sensor or schedule
    is built at a domain module's top level: a code location built twice (the tests build many) shares none."""
    import dagster

    from roz_pipeline import defs

    definitions = (dagster.AssetsDefinition, dagster.AssetSpec, dagster.AssetChecksDefinition, dagster.JobDefinition,
                   dagster.SensorDefinition, dagster.ScheduleDefinition)
    domains = {path.stem for path in (PACKAGE / "defs").glob("*.py") if path.stem != "__init__"}
    assert {module.__name__.rsplit(".", 1)[1] for module in defs.DOMAINS} == domains
    assert all(callable(module.build_domain) for module in defs.DOMAINS)
    assert not [f"{module.__name__}.{name}" for module in defs.DOMAINS for name, value in vars(module).items()
                if isinstance(value, definitions)]


def test_the_environment_is_read_in_settings_only():
    reads = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)|load_dotenv\(")
    wrong = [f"{_relative(path)}:{number}: {line.strip()}" for path in MODULES if _relative(path) != "settings.py"
             for number, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line)]
    assert not wrong


def test_the_demos_view_unsets_every_variable_settings_reads(monkeypatch):
    """`./run ui --demo` and `./run explore --demo` unset settings.roz_variables_set(): a variable settings.py reads
    that is not among them would bring the user's setting into the demo's UI."""
    from roz_pipeline import settings

    readers = ("env", "_positive", "_choice")
    read = {node.args[0].value for node in ast.walk(ast.parse((PACKAGE / "settings.py").read_text()))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in readers
            and node.args and isinstance(node.args[0], ast.Constant)}
    read |= {settings.CELERY_BROKER, settings.CELERY_BACKEND}  # read through celery_is_set(name)
    assert {"DATABASE_URL", "ROZ_CLIP_LAYOUT", "AWS_REGION"} <= read
    for name in read:
        monkeypatch.setenv(name, "the user's")

    assert read <= set(settings.roz_variables_set())


def _shown(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def test_modules_and_functions_stay_small():
    """The package's modules and the benchmarks alike."""
    files = MODULES + BENCHES
    long_modules = [f"{_shown(path)}: {lines} lines" for path in files
                    if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
                    and _shown(path) not in LONG_MODULES_ALLOWED]
    long_functions = [f"{_shown(path)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
                      for path in files
                      for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long_modules and not long_functions


def test_ruff_finds_nothing_against_the_rules_pyproject_declares():
    """pyproject.toml's `[tool.ruff]` (line length, pyflakes, pycodestyle, import order) holds for the whole tree:
    the package, its tests, the benchmarks and setup.py."""
    checked = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(PACKAGE.parent)],
                             capture_output=True, text=True, cwd=PACKAGE.parent)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-1000:]


def test_benches_import_each_other_from_their_folder_and_share_bench_common():
    """A benchmark runs as a script (`python bench/<name>.py`, or bench/run.py): its folder is on the path, so the
    benches import bench/common.py and each other by name, without adding to sys.path (and without the `# noqa: E402`
    that would follow)."""
    wrong = [f"{_shown(path)}:{number}: {line.strip()}" for path in BENCHES
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if "sys.path.insert" in line or "noqa: E402" in line]
    assert not wrong


def test_the_readmes_layout_table_names_every_module_of_every_folder():
    table = {match["folder"]: set(re.findall(r"`(\w+)`", match["what"])) for match in re.finditer(
        r"^\| `roz_pipeline/(?P<folder>\w+)/` \| (?P<what>.*) \|$", README.read_text(), re.MULTILINE)}
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert set(table) == folders
    for folder, named in table.items():
        modules = {path.stem for path in (PACKAGE / folder).glob("*.py") if not path.stem.startswith("__")}
        assert modules <= named, f"roz_pipeline/{folder}/: the README does not name {sorted(modules - named)}"


def test_every_clip_store_has_the_methods_of_the_clip_store_contract():
    """clips/stores.ClipStore names what the catalog, the discoveries, the processing and the explorer ask of a
    store: each store has each of its methods, with the same parameters."""
    import inspect

    from roz_pipeline.clips.s3_store import S3ClipStore
    from roz_pipeline.clips.stores import ClipStore, LocalClipStore

    contract = {name: list(inspect.signature(method).parameters) for name, method in vars(ClipStore).items()
                if inspect.isfunction(method) and not name.startswith("_")}
    assert {"keys", "describe", "top_level", "locate", "local_file", "fetched", "playable",
            "discovery"} <= set(contract)
    for store in (LocalClipStore, S3ClipStore):
        assert {name: list(inspect.signature(getattr(store, name)).parameters) for name in contract
                if hasattr(store, name)} == contract, store.__name__


def test_the_test_folders_map_names_every_file_of_it():
    """roz_pipeline_tests/README.md says which file tests which part: a file it does not name is one a
    newcomer cannot place."""
    folder = PACKAGE.parent / "roz_pipeline_tests"
    named = set(re.findall(r"`(\w+\.py)`", (folder / "README.md").read_text()))
    files = {path.name for path in folder.glob("*.py") if path.name != "__init__.py"}
    assert files <= named, f"roz_pipeline_tests/README.md does not name {sorted(files - named)}"
