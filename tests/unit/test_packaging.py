"""The pack's declared requirements are exactly what it imports, and never what ComfyUI owns; its layers
import only downwards (core, then comfy_glue, then nodes); the registry metadata and archive are
complete and ship no development files."""
import ast
import re
import sys
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet
from rewind.testbed import REPO_ROOT
from rewind.testbed.pack_layout import CORE_DIRS, DEVELOPMENT_DIRS, GLUE_DIR, NODES_DIR, PACK_DIRS, pack_modules

# What a registry install runs or serves: the code ComfyUI imports, the queue client, the workflows.
RUNTIME_PATHS = ["__init__.py", *PACK_DIRS, "rewind_queue", "example_workflows/sd15.json", "example_workflows/api", "assets",
                 "pyproject.toml", "requirements.txt", "LICENSE", "README.md"]
TESTED_COMFYUI = ["0.3.52", "0.3.64", "0.3.75"]  # README, Tests: ComfyUI versions
COMFYUI_MODULES = {"comfy", "comfy_api", "comfy_execution", "comfy_extras", "folder_paths", "latent_preview", "node_helpers",
                   "server", "nodes", "execution"}
COMFY_OWNED = {"torch", "typing_extensions", *COMFYUI_MODULES}
DISTRIBUTION_MODULES = {"imageio-ffmpeg": "imageio_ffmpeg", "numpy": "numpy", "psutil": "psutil"}


def requirement_names(lines):
    return {line.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("~")[0].strip()
            for line in lines if line.strip() and not line.startswith("#")}


def imported_top_level_modules_of(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def imported_top_level_modules(folder: Path) -> set[str]:
    return set().union(*(imported_top_level_modules_of(path) for path in folder.rglob("*.py")))


def test_requirements_txt_and_pyproject_agree():
    txt = requirement_names((REPO_ROOT / "requirements.txt").read_text().splitlines())
    toml = requirement_names(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert txt == toml


def test_nothing_comfyui_owns_is_required():
    names = requirement_names((REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert not names & {"torch", "torchvision", "torchaudio", "opencv-python", "opencv-python-headless"}


def test_every_third_party_import_is_declared_and_every_declaration_imported():
    imported = set().union(*(imported_top_level_modules(REPO_ROOT / d) for d in PACK_DIRS))
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in COMFY_OWNED}
    declared = requirement_names((REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert third_party == {DISTRIBUTION_MODULES[name] for name in declared}


def test_core_packages_never_import_comfyui():
    for folder in CORE_DIRS:
        assert not imported_top_level_modules(REPO_ROOT / folder) & COMFYUI_MODULES, folder


def pack_folders_imported_by(path: Path) -> set[str]:
    """The pack's top-level folders a module imports relatively (`from ..comfy_glue.api import io` -> comfy_glue)."""
    package = path.relative_to(REPO_ROOT).parent.parts
    folders = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[:len(package) - (node.level - 1)]
            names = node.module.split(".") if node.module else [alias.name for alias in node.names]
            folders |= {base[0]} if base else ({names[0]} if node.module else set(names))
    return folders


def test_only_comfy_glue_imports_comfyui():
    """ComfyUI's internals are reached in one layer, where each shape is pinned by an integration test."""
    importers = {path.relative_to(REPO_ROOT).as_posix() for path in pack_modules()
                 if imported_top_level_modules_of(path) & COMFYUI_MODULES}
    assert importers and all(importer.startswith(f"{GLUE_DIR}/") for importer in importers), importers


def test_only_the_nodes_and_registration_import_comfy_glue():
    importers = {path.relative_to(REPO_ROOT).as_posix() for path in pack_modules() if GLUE_DIR in pack_folders_imported_by(path)
                 and not path.is_relative_to(REPO_ROOT / GLUE_DIR)}
    assert importers and all(importer.startswith(f"{NODES_DIR}/") for importer in importers), importers


def test_the_core_never_imports_the_nodes():
    for folder in [*CORE_DIRS, GLUE_DIR]:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            assert NODES_DIR not in pack_folders_imported_by(path), path


def test_comfy_api_is_loaded_in_one_place():
    """The pinned V3 API comes from comfy_glue/api.py (by importlib), so one line moves the pin."""
    importers = {path.relative_to(REPO_ROOT).as_posix() for path in pack_modules()
                 if "comfy_api" in imported_top_level_modules_of(path)}
    assert importers == set(), importers
    assert "importlib.import_module(f\"comfy_api.{version}\")" in (REPO_ROOT / GLUE_DIR / "api.py").read_text()


def test_the_api_check_covers_every_io_member_the_pack_uses():
    """comfy_glue/api.py refuses a comfy_api lacking one of API_PIECES: the list is exactly what the pack uses."""
    api_source = (REPO_ROOT / GLUE_DIR / "api.py").read_text()
    assignment = next(node for node in ast.walk(ast.parse(api_source))
                      if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "API_PIECES")
    checked = set(ast.literal_eval(assignment.value))
    users = [text for text in (path.read_text() for path in pack_modules())
             if re.search(r"from \.+comfy_glue\.api import .*\bio\b", text)]
    used = {match for text in users for match in re.findall(r"\bio\.([A-Z]\w*(?:\.\w+)?)", text)}
    assert used == checked, f"API_PIECES in comfy_glue/api.py: add {sorted(used - checked)}, drop {sorted(checked - used)}"


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def comfyignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".comfyignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_comfy_registry_metadata_is_complete():
    project, comfy = pyproject()["project"], pyproject()["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    repository = project["urls"]["Repository"]
    assert project["urls"]["Documentation"].startswith(repository)
    assert project["urls"]["Bug Tracker"] == f"{repository}/issues"


def test_requires_comfyui_spans_exactly_the_tested_versions_upwards():
    required = SpecifierSet(pyproject()["tool"]["comfy"]["requires-comfyui"])
    assert all(version in required for version in TESTED_COMFYUI)
    assert "0.3.51" not in required  # the floor is the oldest version the tiers ran on, not a guess


def test_the_icon_is_a_square_svg_shipped_in_the_repo_at_its_raw_url():
    """The registry shows the icon from its URL: a square of at most 400 px (SVG, PNG, JPG or GIF)."""
    repository = pyproject()["project"]["urls"]["Repository"]
    raw = repository.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    icon = pyproject()["tool"]["comfy"]["Icon"]
    assert icon.startswith(raw)
    svg = (REPO_ROOT / icon.removeprefix(raw)).read_text()
    width, height = (int(re.search(rf'<svg[^>]* {axis}="(\d+)"', svg).group(1)) for axis in ("width", "height"))
    assert width == height <= 400
    assert re.search(rf'viewBox="0 0 {width} {height}"', svg)


def test_comfyignore_leaves_development_files_out_and_everything_the_pack_runs_in():
    """Only anchored paths that exist, so each pattern means exactly 'this file' or 'this folder'
    under comfy-cli's gitignore matching; no `includes`, which would force folders back in."""
    patterns = comfyignore_patterns()
    assert set(DEVELOPMENT_DIRS) <= set(patterns)
    for pattern in patterns:
        assert pattern.startswith("/") and not set(pattern) & set("*?[]!\\"), pattern
        path = REPO_ROOT / pattern.strip("/")
        assert path.is_dir() if pattern.endswith("/") else path.is_file(), f"stale pattern {pattern}"
    ignored = [pattern.strip("/") for pattern in patterns]
    shipped_but_ignored = [path for path in RUNTIME_PATHS for prefix in ignored
                           if path == prefix or path.startswith(prefix + "/") or prefix.startswith(path + "/")]
    assert shipped_but_ignored == []
    assert "includes" not in pyproject()["tool"]["comfy"]
