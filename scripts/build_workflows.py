"""Renders the example workflows (UI and API format) from example_workflows/source/.

    python scripts/build_workflows.py           # rewrite example_workflows/*.json, example_workflows/api/*.json, web/templates.json
    python scripts/build_workflows.py --check   # exit 1, listing stale files, if they differ
    python scripts/build_workflows.py --refresh-peer-schemas DIR  # re-trim the peer schemas, then rewrite

Rewind's node schemas come from the live node classes, so ComfyUI must be importable: the pinned
copy in .cache/comfyui-0.3.75 (scripts/setup_env.sh) or $COMFYUI_PATH. Core, AnimateDiff-Evolved and
VideoHelperSuite schemas come from example_workflows/source/peer_object_info.json, their /object_info dumps
trimmed to the node types the workflows use; --refresh-peer-schemas DIR regenerates it from the full
dumps in DIR (comfyui_0.3.75, animatediff_evolved, videohelpersuite .object_info.json), e.g. after a
recipe starts using another core or AnimateDiff node.
"""
from __future__ import annotations

import argparse
import os
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_comfyui() -> None:
    """Makes ComfyUI importable on the CPU and the pack importable as `rewind` (as tests/conftest.py does)."""
    comfyui = Path(os.environ.get("COMFYUI_PATH") or ROOT / ".cache" / "comfyui-0.3.75")
    if not (comfyui / "main.py").is_file():
        sys.exit(f"No ComfyUI at {comfyui}: run scripts/setup_env.sh or set COMFYUI_PATH to a ComfyUI checkout.")
    sys.path.insert(0, str(comfyui))
    from comfy.cli_args import args

    args.cpu = True
    alias = types.ModuleType("rewind")
    alias.__path__ = [str(ROOT)]
    sys.modules.setdefault("rewind", alias)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a committed file is stale")
    parser.add_argument("--refresh-peer-schemas", metavar="DIR", type=Path,
                        help="first rewrite example_workflows/source/peer_object_info.json from the full /object_info dumps in DIR")
    options = parser.parse_args(argv)
    import_comfyui()
    from rewind.example_workflows.source import stale_files, write_all
    from rewind.example_workflows.source.schemas import combined_object_info, trim_peer_dumps, write_peer_object_info

    if options.refresh_peer_schemas:
        try:
            print(write_peer_object_info(trim_peer_dumps(options.refresh_peer_schemas)).relative_to(ROOT))
        except FileNotFoundError as error:
            sys.exit(str(error))

    object_info = combined_object_info()
    if options.check:
        stale = stale_files(object_info)
        for path in stale:
            print(f"stale: {path} (run python scripts/build_workflows.py)", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(object_info):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
