"""Entry point of an env worker process (see :mod:`rllib_tmd.envs.env_pool`).

Run as ``python PATH/TO/_env_worker.py COMMAND_FD REPLY_FD``. A worker needs only the env
modules, so it imports them without running ``rllib_tmd/__init__.py`` (which imports Ray and
torch, ~3 s): the two parent packages are stand-in modules whose ``__path__`` points at their
folders, which is all Python needs to find submodules.
"""

import sys
import types
from multiprocessing.connection import Connection
from pathlib import Path


def import_env_modules_only() -> None:
    """Register ``rllib_tmd`` and ``rllib_tmd.envs`` as bare packages (no ``__init__`` run)."""
    envs_folder = Path(__file__).resolve().parent
    for name, folder in (("rllib_tmd", envs_folder.parent), ("rllib_tmd.envs", envs_folder)):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules.setdefault(name, package)


if __name__ == "__main__":
    import_env_modules_only()
    from rllib_tmd.envs.env_pool import serve

    serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
