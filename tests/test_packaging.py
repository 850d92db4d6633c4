"""The pack's declared requirements are exactly what it imports, and never what ComfyUI owns."""
import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK_DIRS = ["nodes", "samplers", "schedules", "coherence", "video_io"]
COMFY_OWNED = {"torch", "comfy", "comfy_api", "comfy_extras", "folder_paths", "latent_preview", "node_helpers",
               "server", "nodes", "typing_extensions"}
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
    txt = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    toml = requirement_names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert txt == toml


def test_nothing_comfyui_owns_is_required():
    names = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert not names & {"torch", "torchvision", "torchaudio", "opencv-python", "opencv-python-headless"}


def test_every_third_party_import_is_declared_and_every_declaration_imported():
    imported = set().union(*(imported_top_level_modules(ROOT / d) for d in PACK_DIRS))
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in COMFY_OWNED}
    declared = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert third_party == {DISTRIBUTION_MODULES[name] for name in declared}


def test_core_packages_never_import_comfyui():
    for folder in ("samplers", "schedules", "coherence", "video_io"):
        assert not imported_top_level_modules(ROOT / folder) & (COMFY_OWNED - {"torch"}), folder


def test_node_modules_take_comfy_api_only_through_nodes_comfy_api():
    """Every node module takes the pinned V3 API from nodes/comfy_api.py, so one line moves the pin."""
    importers = {path.relative_to(ROOT).as_posix() for folder in PACK_DIRS for path in (ROOT / folder).rglob("*.py")
                 if "comfy_api" in imported_top_level_modules_of(path)}
    assert importers == set(), importers


def test_comfy_registry_metadata_is_complete():
    comfy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert all((ROOT / folder).is_dir() for folder in comfy["includes"])
