"""A test-only custom node package: prints, per Rewind pass, how many AnimateDiff-Evolved motion-module
calls it made and how high its schedule went ("rewind-probe: unsample pass: N motion-module calls, top
sigma S, model sigma_max M") to the server log.

Installed by tests/server/test_animatediff_server.py as custom_nodes/rewind_probe/__init__.py. Custom nodes
load in directory order, so the counter is installed at the first sampling call, when all are loaded.
"""
import sys

import comfy.sample

NODE_CLASS_MAPPINGS = {}
_calls = [0]
_sample_custom = comfy.sample.sample_custom


def _count_motion_module_calls() -> None:
    modules = [module for name, module in list(sys.modules.items())
               if name.endswith("motion_module_ad") and hasattr(module, "VanillaTemporalModule")]
    if not modules:
        raise RuntimeError("rewind-probe: AnimateDiff-Evolved's motion_module_ad is not loaded")
    module = modules[0].VanillaTemporalModule
    if getattr(module.forward, "rewind_probe", False):
        return
    forward = module.forward

    def counted(self, *args, **kwargs):
        _calls[0] += 1
        return forward(self, *args, **kwargs)

    counted.rewind_probe = True
    module.forward = counted


def probed_sample_custom(model, noise, cfg, sampler, sigmas, *args, **kwargs):
    _count_motion_module_calls()
    before = _calls[0]
    try:
        return _sample_custom(model, noise, cfg, sampler, sigmas, *args, **kwargs)
    finally:
        model_max = float(model.get_model_object("model_sampling").sigma_max)
        print(f"rewind-probe: {getattr(sampler, 'direction', 'other')} pass: {_calls[0] - before} motion-module calls, "
              f"top sigma {float(sigmas.max()):.4f}, model sigma_max {model_max:.4f}", flush=True)


comfy.sample.sample_custom = probed_sample_custom
