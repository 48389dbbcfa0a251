"""A command line that names a command reads only that command, and says the same as the whole app."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from metagate import cli

_ARGS = [
    ["collect", "--help"],
    ["collect"],
    ["collect", "--bogus", "x.pcap"],
    ["collect", "--format", "xml", "x.pcap"],
    ["gate", "--help"],
    ["hash-password", "--help"],
    ["report", "--help"],
]


@pytest.mark.parametrize("args", _ARGS, ids=" ".join)
def test_the_narrowed_app_says_what_the_whole_app_says(args: list[str]) -> None:
    runner = CliRunner()
    narrowed = cli._narrowed(args)
    assert narrowed is not cli.app
    whole = runner.invoke(cli.app, args, prog_name="metagate")
    alone = runner.invoke(narrowed, args, prog_name="metagate")
    assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)
    assert whole.exit_code in (0, 2)


def test_only_the_named_command_is_read() -> None:
    group = typer.main.get_command(cli._narrowed(["collect", "x.pcap"]))
    assert isinstance(group, typer.core.TyperGroup)
    assert sorted(group.commands) == ["collect"]


@pytest.mark.parametrize("args", [[], ["--help"], ["policy", "check"], ["nonsense"], ["audit"]])
def test_groups_help_and_unknown_names_read_the_whole_app(args: list[str]) -> None:
    assert cli._narrowed(args) is cli.app
