"""Each package's front door exports exactly the names we meant, sorted."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["policies", "collectors", "filters", "detectors", "exchange", "metagate.console"])
def test_all_is_sorted_and_complete(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert list(exported) == sorted(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but missing"
    public = {n for n in vars(module) if not n.startswith("_") and not isinstance(getattr(module, n), type(module))}
    assert public == set(exported), f"{package} exposes names outside __all__: {public - set(exported)}"
