"""Account password hashes: verified only by their password, refused when not a hash."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from metagate.cli import app
from policies import ConfigError, check_password_hash, hash_password, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("", stored)
    assert "correct horse" not in stored


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same") != hash_password("same")


@pytest.mark.parametrize(
    "value",
    ["hunter2", "scrypt$16384$8$1$c2FsdA", "bcrypt$16384$8$1$c2FsdA$" + "A" * 43, "scrypt$1000$8$1$c2FsdA$" + "A" * 43],
)
def test_a_clear_or_malformed_value_is_refused_with_where_it_came_from(value: str) -> None:
    with pytest.raises(ConfigError, match=r"console\.yaml: users\.alice\.password: not a password hash"):
        check_password_hash(value, "console.yaml: users.alice.password")


def test_the_command_prints_a_hash_of_the_line_on_stdin() -> None:
    result = CliRunner().invoke(app, ["hash-password"], input="s3cret\n")
    assert result.exit_code == 0, result.output
    stored = result.output.strip()
    check_password_hash(stored, "output")
    assert verify_password("s3cret", stored)


def test_the_command_refuses_an_empty_password() -> None:
    result = CliRunner().invoke(app, ["hash-password"], input="\n")
    assert result.exit_code == 2
