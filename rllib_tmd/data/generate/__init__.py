"""Local generation of OGBench datasets with OGBench's own scripted collection recipes.

``generate_dataset(name, out_dir)`` writes ``<out_dir>/<name>.npz`` and ``<out_dir>/<name>-val.npz``
in OGBench's format, so ``ogbench.make_env_and_datasets(name, dataset_dir=out_dir)`` loads them
without downloading anything. Generators are looked up in a registry (dataset name -> function);
pointmaze (8 datasets) and the manipulation datasets of ``manipspace.py`` (cube-single play/noisy,
cube-double play, scene play/noisy, puzzle-3x3 play/noisy) are registered. Other cube/puzzle
sizes follow the same script and need only a recipe entry in ``MANIPSPACE_RECIPES``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from rllib_tmd.data.generate.manipspace import MANIPSPACE_RECIPES, generate_manipspace
from rllib_tmd.data.generate.pointmaze import POINTMAZE_RECIPES, generate_pointmaze

__all__ = [
    "DatasetGenerator",
    "OfficialDatasetRequiredError",
    "generate_dataset",
    "register_generator",
    "supported_datasets",
]


class DatasetGenerator(Protocol):
    """Signature every registered generator implements."""

    def __call__(
        self,
        name: str,
        out_dir: str | os.PathLike,
        episodes: int | None = None,
        seed: int = 0,
        workers: int = 1,
        progress: bool = True,
    ) -> dict[str, Path]: ...


class OfficialDatasetRequiredError(ValueError):
    """The dataset exists in OGBench but cannot be generated here."""


_GENERATORS: dict[str, DatasetGenerator] = {}

#: Families whose official collection needs pretrained expert policies (ant/humanoid SAC agents).
_EXPERT_FAMILIES = ("antmaze-", "humanoidmaze-", "antsoccer-", "visual-")
#: OGBench families with scripted oracles that have no generator here yet.
_NOT_YET_FAMILIES = ("cube-", "scene-", "puzzle-", "powderworld-")


def register_generator(names: Iterable[str], generator: DatasetGenerator) -> None:
    """Route each dataset name in ``names`` to ``generator``."""
    for name in names:
        if name in _GENERATORS and _GENERATORS[name] is not generator:
            raise ValueError(f"dataset {name!r} already has a generator")
        _GENERATORS[name] = generator


def supported_datasets() -> list[str]:
    """Dataset names that can be generated locally, sorted."""
    return sorted(_GENERATORS)


def generate_dataset(
    name: str,
    out_dir: str | os.PathLike,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Path]:
    """Generate OGBench dataset ``name`` into ``out_dir``; returns ``{"train": path, "val": path}``.

    Args:
        name: OGBench dataset name, e.g. ``"pointmaze-medium-navigate-v0"``.
        out_dir: Directory for ``<name>.npz`` and ``<name>-val.npz`` (created if missing).
        episodes: Training episodes (default: OGBench's official count); the validation split gets
            ``max(1, episodes // 10)`` episodes, as in OGBench.
        seed: Non-negative seed; output is a deterministic function of ``(name, episodes, seed)``.
        workers: Processes to use; does not change the output.
        progress: Show a tqdm progress bar on stderr.

    Raises:
        OfficialDatasetRequiredError: ``name`` is an OGBench dataset that cannot be generated here.
        ValueError: ``name`` is not a known dataset.
    """
    generator = _GENERATORS.get(name)
    if generator is None:
        raise _unsupported(name)
    return generator(
        name, out_dir, episodes=episodes, seed=seed, workers=workers, progress=progress
    )


def _unsupported(name: str) -> ValueError:
    convert = (
        f"download the official {name}.npz and {name}-val.npz on a machine that can reach "
        f"OGBench's dataset host, then convert them with `rllib-tmd convert {name}.npz --out DIR`"
    )
    if name.startswith(_EXPERT_FAMILIES):
        return OfficialDatasetRequiredError(
            f"{name!r} is collected by pretrained expert policies that are not available here, so "
            f"it cannot be generated locally; {convert}."
        )
    if name.startswith(_NOT_YET_FAMILIES):
        return OfficialDatasetRequiredError(
            f"no local generator for {name!r} yet; {convert}. "
            f"Locally generable: {', '.join(supported_datasets())}."
        )
    return ValueError(
        f"unknown dataset {name!r}; datasets that can be generated locally: "
        f"{', '.join(supported_datasets())}."
    )


register_generator(POINTMAZE_RECIPES, generate_pointmaze)
register_generator(MANIPSPACE_RECIPES, generate_manipspace)
