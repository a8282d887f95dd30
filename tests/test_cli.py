"""The `rllib-tmd` command: help text and clean one-line errors for user mistakes."""

import pytest

from rllib_tmd.cli import build_parser, main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in ("quickstart", "train", "make-dataset", "convert", "evaluate"):
        assert command in out


def test_expert_dataset_is_a_clean_error_with_the_convert_command(tmp_path, capsys):
    assert main(["make-dataset", "antmaze-large-navigate-v0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rllib-tmd make-dataset: error:")
    assert "rllib-tmd convert antmaze-large-navigate-v0.npz" in err


def test_converting_a_missing_file_names_it(tmp_path, capsys):
    missing = tmp_path / "nothing.npz"
    assert main(["convert", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert "nothing.npz" in capsys.readouterr().err
