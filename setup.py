"""Packaging for rllib-tmd: Temporal Metric Distillation for Ray RLlib."""

from setuptools import find_packages, setup

setup(
    name="rllib-tmd",
    version="0.1.0",
    description="Temporal Metric Distillation (TMD) for Ray RLlib's new API stack",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["rllib_tmd", "rllib_tmd.*"]),
    python_requires=">=3.10",
    # Tested with ray 2.60.0; the 2.60 line is the supported range.
    install_requires=[
        "ray[rllib,data]>=2.60.0,<2.61",
        "torch>=2.4",
        "gymnasium>=1.0",
        "ogbench>=1.1",
        # OGBench's datasets and envs were built on MuJoCo 3.x; generation is tested
        # bit-exact against the official env with mujoco 3.2.7 / dm_control 1.0.27. With
        # mujoco 4.0 the scene generator's determinism test fails, so stay on 3.x.
        "mujoco>=3.1.6,<3.3",
        "dm_control>=1.0.20,<1.0.28",
        "pyarrow>=14",
        "numpy>=1.24",
        "tqdm",
        "matplotlib",
        "pyyaml",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6", "ruff>=0.5", "triton>=3.7"],
        "triton": ["triton>=3.0"],
    },
    entry_points={"console_scripts": ["rllib-tmd=rllib_tmd.cli:main"]},
)
