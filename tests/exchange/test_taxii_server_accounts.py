"""The TAXII server's accounts: scrypt once, then remembered for a while; a wrong password never is."""

from __future__ import annotations

import pytest

import exchange._server_accounts as accounts_module
from exchange._server_accounts import Accounts
from tests.exchange.served import PASSWORDS, READER, STRANGER, server_config


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_password_is_remembered_a_while_and_a_wrong_one_never(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = server_config().server
    assert settings is not None
    clock = Ticks()
    accounts = Accounts(settings, "us-partner", remember_seconds=60, clock=clock)
    calls: list[str] = []
    real = accounts_module.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(accounts_module, "verify_password", counting)
    account = accounts.authenticate(READER, PASSWORDS[READER])
    assert account is not None and account.partner == "us-partner" and account.user == READER
    assert accounts.authenticate(READER, PASSWORDS[READER]) == account
    assert len(calls) == 1  # the second time from memory
    assert accounts.authenticate(READER, "wrong") is None
    assert accounts.authenticate(READER, "wrong") is None
    assert len(calls) == 3  # every wrong attempt pays scrypt
    assert accounts.authenticate(READER, PASSWORDS[STRANGER]) is None  # another account's password
    assert accounts.authenticate("nobody", "x") is None and len(calls) == 5  # unknown users pay too
    clock.now = 61
    assert accounts.authenticate(READER, PASSWORDS[READER]) == account and len(calls) == 6  # forgotten, checked again
    stranger = accounts.authenticate(STRANGER, PASSWORDS[STRANGER])
    assert stranger is not None and stranger.partner == "eu-partner"
