"""The report tests' site: one real ledger for the session, written by the real commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exchange._local_partner import LocalPartner
from tests.metagate.report_site import PASSWORD, Site, build


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("report-site")
    with LocalPartner(folder / "partner", password=PASSWORD) as partner:
        (folder / "work").mkdir()
        yield build(folder / "work", partner)
