"""Shared test setup.

Tiers are folders: tests/unit (no ComfyUI), tests/integration (ComfyUI in-process, fixture `comfy`),
tests/server (a headless ComfyUI, fixture `comfy_server`), tests/hostile (a real server fed hostile
input) and tests/browser (the real frontend in headless Chromium). Each test is marked with its
folder's tier here, so `-m integration` and friends select by folder, and a test that asks for a
fixture of a heavier tier than its folder fails at collection instead of running in the wrong tier.

The repo root is the custom-node folder (a package whose __init__ imports ComfyUI), so tests
import the pack as ``rewind.<subpackage>`` through an alias that does not run the root
``__init__``: unit tests of ``samplers/``, ``schedules/``, ``coherence/`` and ``video_io/``
need no ComfyUI at all.
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_alias = types.ModuleType("rewind")
_alias.__path__ = [str(ROOT)]
sys.modules.setdefault("rewind", _alias)

from rewind.rewind_queue.server import ComfyServer, prepare_base_directory  # noqa: E402


def comfyui_path() -> Path:
    """The ComfyUI tree under test: $COMFYUI_PATH, else the pinned copy scripts/setup_env.sh made."""
    path = Path(os.environ.get("COMFYUI_PATH") or ROOT / ".cache" / "comfyui-0.3.75")
    if not (path / "main.py").is_file():
        raise RuntimeError(
            f"No ComfyUI at {path}: run `make test` (it provisions one) or set COMFYUI_PATH to a ComfyUI checkout."
        )
    return path


@pytest.fixture(scope="session")
def comfy():
    """Imports the real ComfyUI in-process, on the CPU, and returns its path."""
    path = comfyui_path()
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management  # noqa: F401  (reads args.cpu at import)

    return path


# --- headless server tier -------------------------------------------------------------------


@pytest.fixture(scope="session")
def comfyui_tree() -> Path:
    """The ComfyUI tree under test, for tests that start their own ComfyUI process."""
    return comfyui_path()


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory):
    """A headless ComfyUI (CPU) with the pack linked into a temporary base directory.

    Yields a ``ComfyServer`` (``url``, ``base``, ``log_path``, ``install_models(folder, files)``).
    Model files copied in later are picked up: ComfyUI re-lists a folder when its mtime changes.
    """
    base = prepare_base_directory(tmp_path_factory.mktemp("comfy_base"))
    with ComfyServer(comfyui_path(), base) as server:
        yield server


TIERS = ("unit", "integration", "server", "hostile", "browser")
# Fixtures that need more than a tier provides: unit tests run without ComfyUI, integration tests without a server.
HEAVIER_FIXTURES = {"unit": {"comfy", "comfy_server", "comfyui_tree"}, "integration": {"comfy_server", "comfyui_tree"}}


def tier_of(item) -> str:
    relative = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests")
    if len(relative.parts) < 2 or relative.parts[0] not in TIERS:
        raise pytest.UsageError(f"{relative}: put test files in a tier folder under tests/ ({', '.join(TIERS)}).")
    return relative.parts[0]


def pytest_collection_modifyitems(items):
    for item in items:
        tier = tier_of(item)
        too_heavy = HEAVIER_FIXTURES.get(tier, set()) & set(item.fixturenames)
        if too_heavy:
            raise pytest.UsageError(f"{item.nodeid} uses {sorted(too_heavy)}, which the {tier} tier does not provide: "
                                    "move it to the tier folder that does.")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the server log's tail to every failed server test's report."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("comfy_server")
    if report.failed and server is not None:
        report.sections.append((f"ComfyUI server log (tail of {server.log_path})", server.tail(80)))
