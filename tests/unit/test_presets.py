"""Unit tests of presets/: one table of model types that the AYS scheduler, the loaders' presets and the
context layouts read, with the option values saved workflows already hold."""
import pytest

from rewind.presets import AYS_OPTIONS, BY_LATENT_FORMAT, LOAD_PRESETS, MODEL_TYPES, WAN21
from rewind.samplers import context
from rewind.samplers.families import FAMILIES
from rewind.schedules import ays
from rewind.video_io import MODEL_PRESETS


def test_option_values_saved_workflows_hold_are_kept():
    assert ays.MODEL_TYPES == ("SD1", "SDXL", "SVD", "Wan2.1") and ays.FLOW_MODEL_TYPES == ("Wan2.1",)
    assert list(MODEL_PRESETS)[:5] == ["none", "SD1.5 (8 px)", "SDXL (8 px)", "AnimateDiff (8 px, 8 fps)",
                                       "Wan2.1 (16 fps, 4n+1 frames, 16 px)"]
    assert context.LAYOUTS == ("auto", "frame batch (SD1.5/SDXL/AnimateDiff/Hotshot)", "Wan2.1 temporal axis")


def test_every_model_type_has_a_family_the_samplers_know_and_an_existing_ays_table():
    for model in MODEL_TYPES.values():
        assert model.family in FAMILIES, model.name
        assert model.ays_table is None or model.ays_table in ays.NOISE_LEVELS, model.name
    assert all(model.ays_table for model in AYS_OPTIONS.values())


def test_rows_sharing_a_vae_agree_on_what_it_makes():
    """Context windows find a model's frames per latent frame by its latent format: one answer per format."""
    for model in MODEL_TYPES.values():
        vae = BY_LATENT_FORMAT[model.latent_format]
        assert (model.latent_channels, model.spatial_compression, model.temporal_compression) == \
            (vae.latent_channels, vae.spatial_compression, vae.temporal_compression), model.name


def test_video_rows_load_frame_counts_their_vae_encodes_exactly():
    """A video row's loader preset takes k*n+1 frames, k its VAE's temporal compression, at a size its
    latent patches divide (Mochi 6n+1, LTX-Video 8n+1 at 32 px)."""
    video = {name: model for name, model in MODEL_TYPES.items() if model.temporal_compression > 1}
    assert {name: model.temporal_compression for name, model in video.items()} == {
        "Wan2.1": 4, "Wan2.2 A14B": 4, "Wan2.2 TI2V-5B": 4, "HunyuanVideo": 4, "HunyuanVideo 1.5": 4, "LTX-Video": 8,
        "Mochi": 6, "Cosmos Predict2": 4}
    for model in video.values():
        preset = MODEL_PRESETS[model.load_preset]
        assert preset.frame_group == model.temporal_compression and preset.size_multiple % model.spatial_compression == 0


def test_loader_presets_and_the_temporal_layout_follow_the_table():
    for label, model in LOAD_PRESETS.items():
        preset = MODEL_PRESETS[label]
        assert (preset.size_multiple, preset.fps, preset.frame_group) == (model.size_multiple, model.fps, model.frame_group)
    assert WAN21.frame_group == WAN21.temporal_compression == 4
    assert context.pixel_to_latent_frames(4 * 20 + 1, WAN21.temporal_compression) == 21


def test_the_wan22_loader_presets_hold_the_releases_rates_sizes_and_latents():
    """Wan-Video/Wan2.2: A14B at 16 fps on Wan2.1's VAE (832x480 and 1280x720 are multiples of 16); TI2V-5B at
    24 fps on its own VAE, 48 channels, 16x16 pixels and 4 frames per latent, 1280x704 (multiples of 32)."""
    a14b_row, ti2v_row = MODEL_TYPES["Wan2.2 A14B"], MODEL_TYPES["Wan2.2 TI2V-5B"]
    a14b, ti2v = MODEL_PRESETS[a14b_row.load_preset], MODEL_PRESETS[ti2v_row.load_preset]
    assert (a14b.fps, a14b.size_multiple, a14b.frame_group) == (16.0, 16, 4)
    assert (ti2v.fps, ti2v.size_multiple, ti2v.frame_group) == (24.0, 32, 4)
    assert (a14b_row.latent_format, a14b_row.latent_channels, a14b_row.family) == ("Wan21", 16, "flow")
    assert (ti2v_row.latent_format, ti2v_row.latent_channels, ti2v_row.spatial_compression) == ("Wan22", 48, 16)
    assert all(side % a14b.size_multiple == 0 for side in (832, 480, 1280, 720))
    assert all(side % ti2v.size_multiple == 0 for side in (1280, 704))
    assert context.pixel_to_latent_frames(121, ti2v_row.temporal_compression) == 31


@pytest.mark.parametrize("model_type, family, choices", [("SD1", "flow", "Pick Wan2.1,"),
                                                          ("Wan2.1", "eps", "Pick SD1, SDXL or SVD,")])
def test_an_ays_table_of_the_other_family_is_refused_with_the_fitting_ones(model_type, family, choices):
    with pytest.raises(ValueError, match=f"model_type {model_type} does not fit the connected model.*{choices}"):
        ays.check_family(model_type, family)
    ays.check_family(model_type, AYS_OPTIONS[model_type].family)
