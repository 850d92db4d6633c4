"""Unit tests of schedules/: AYS tables, the flow mapping, path validation and flipping."""
import math

import pytest

from rewind.schedules import ays, paths


@pytest.mark.parametrize("model_type", ["SD1", "SDXL", "SVD"])
def test_ten_steps_are_nvidias_table_with_a_zero_end(model_type):
    sigmas = ays.ays_sigmas(model_type, 10)
    assert sigmas[:-1] == pytest.approx(ays.NOISE_LEVELS[model_type][:-1], rel=1e-12)
    assert sigmas[-1] == 0.0


@pytest.mark.parametrize("steps", [1, 4, 16, 32])
@pytest.mark.parametrize("model_type", ays.MODEL_TYPES)
def test_every_schedule_is_descending_and_ends_clean(model_type, steps):
    sigmas = ays.ays_sigmas(model_type, steps)
    assert len(sigmas) == steps + 1
    assert all(b < a for a, b in zip(sigmas, sigmas[1:]))
    assert sigmas[-1] == 0.0 and all(math.isfinite(s) for s in sigmas)


def test_flow_schedule_starts_at_pure_noise_and_stays_in_unit_interval():
    sigmas = ays.ays_sigmas("Wan2.1", 16, flow_shift=3.0)
    assert sigmas[0] == 1.0
    assert all(0.0 <= s <= 1.0 for s in sigmas)


def test_flow_mapping_keeps_the_signal_to_noise_ratio():
    # At shift 1, flow sigma s has noise/signal s/(1-s), which must equal the VE sigma.
    for sigma_ve in (0.03, 1.0, 14.6):
        s = ays.ve_to_flow([sigma_ve], 1.0)[0]
        assert s / (1 - s) == pytest.approx(sigma_ve)


def test_larger_shift_moves_steps_toward_noise():
    low, high = ays.ays_sigmas("Wan2.1", 16, flow_shift=1.0), ays.ays_sigmas("Wan2.1", 16, flow_shift=8.0)
    assert all(h >= l for l, h in zip(low[1:-1], high[1:-1]))


def test_partial_denoise_keeps_the_clean_end():
    full, part = ays.ays_sigmas("SD1", 20), ays.ays_sigmas("SD1", 20, denoise=0.5)
    assert len(part) == 11 and part[:-1] == full[-11:-1]
    assert ays.ays_sigmas("SD1", 20, denoise=0.0) == []


def test_unknown_model_type_names_the_choices():
    with pytest.raises(ValueError, match="SD1"):
        ays.ays_sigmas("SD3", 10)


def test_paths_travel_in_both_directions_from_either_order():
    descending = [14.6, 3.0, 0.5, 0.0]
    assert paths.unsample_path(descending) == [0.0, 0.5, 3.0, 14.6]
    assert paths.resample_path(descending[::-1]) == descending


def test_core_flip_floor_reads_back_as_exactly_clean():
    flipped = paths.flip([14.6, 1.0, 0.0])
    assert flipped == [paths.CLEAN_SIGMA_FLOOR, 1.0, 14.6]
    assert paths.unsample_path(flipped)[0] == 0.0


@pytest.mark.parametrize(
    "sigmas, message",
    [([], "at least 2"), ([1.0], "at least 2"), ([3.0, 1.0, 2.0, 0.0], "not strictly monotone"),
     ([1.0, float("nan"), 0.0], "non-finite"), ([1.0, -0.5], "negative")],
)
def test_bad_schedules_are_refused_with_a_reason(sigmas, message):
    with pytest.raises(paths.ScheduleError, match=message):
        paths.noise_levels(sigmas, "RewindUnsampler")


def test_a_model_sigma_max_becomes_the_top_level_and_the_rest_stay():
    table = ays.ays_sigmas("SD1", 10)
    extended = ays.ays_sigmas("SD1", 10, sigma_max=25.15)
    assert extended[0] == pytest.approx(25.15) and extended[1:] == pytest.approx(table[1:], rel=1e-12)
    sixteen = ays.ays_sigmas("SD1", 16, sigma_max=25.15)
    assert sixteen[0] == pytest.approx(25.15) and all(a > b for a, b in zip(sixteen, sixteen[1:]))
    assert sixteen[-3:] == pytest.approx(ays.ays_sigmas("SD1", 16)[-3:], rel=1e-12)  # the clean end is untouched


def test_a_sigma_max_the_table_cannot_reach_is_refused_and_flow_ignores_it():
    with pytest.raises(ValueError, match="Pick the model_type"):
        ays.ays_sigmas("SD1", 10, sigma_max=5.0)
    assert ays.ays_sigmas("Wan2.1", 8, sigma_max=1.0) == ays.ays_sigmas("Wan2.1", 8)
