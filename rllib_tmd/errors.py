"""Errors the ``rllib-tmd`` command reports as one line, importable without Ray (so that
``rllib-tmd make-dataset`` and ``convert`` run on a machine without it)."""


class TrainingFailed(RuntimeError):
    """One or more trials stopped with an error (e.g. a non-finite loss)."""
