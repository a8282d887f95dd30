"""Dataset-name registry of ``rllib_tmd.data.generate``."""

import pytest

from rllib_tmd.data.generate import (
    OfficialDatasetRequiredError,
    generate_dataset,
    register_generator,
    supported_datasets,
)

POINTMAZE_NAMES = [
    f"pointmaze-{maze}-{kind}-v0"
    for maze in ("medium", "large", "giant", "teleport")
    for kind in ("navigate", "stitch")
]


MANIPSPACE_NAMES = [
    "cube-single-play-v0",
    "cube-single-noisy-v0",
    "cube-double-play-v0",
    "scene-play-v0",
    "scene-noisy-v0",
    "puzzle-3x3-play-v0",
    "puzzle-3x3-noisy-v0",
]


def test_pointmaze_and_manipspace_datasets_are_supported():
    assert set(supported_datasets()) == {*POINTMAZE_NAMES, *MANIPSPACE_NAMES}
    assert supported_datasets() == sorted(supported_datasets())


def test_unknown_name_lists_supported_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset") as info:
        generate_dataset("pointmaze-tiny-navigate-v0", tmp_path)
    assert not isinstance(info.value, OfficialDatasetRequiredError)
    for name in POINTMAZE_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "antmaze-large-navigate-v0",
        "humanoidmaze-giant-stitch-v0",
        "antsoccer-arena-navigate-v0",
        "visual-antmaze-medium-navigate-v0",
    ],
)
def test_expert_datasets_ask_for_the_official_file(name, tmp_path):
    with pytest.raises(OfficialDatasetRequiredError, match="expert") as info:
        generate_dataset(name, tmp_path)
    assert f"rllib-tmd convert {name}.npz --out DIR" in str(info.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["cube-triple-play-v0", "puzzle-4x4-noisy-v0"])
def test_other_manipulation_sizes_are_not_generated_yet(name, tmp_path):
    with pytest.raises(OfficialDatasetRequiredError, match="no local generator"):
        generate_dataset(name, tmp_path)


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already has a generator"):
        register_generator(["pointmaze-medium-navigate-v0"], lambda *a, **k: {})
