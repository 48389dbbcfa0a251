"""Policy files: built-in profiles, site narrowing, and errors that name file, line and field."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policies import (
    Handling,
    PolicyError,
    PseudonymScope,
    TrafficClass,
    builtin_profiles,
    load_keys,
    load_policy,
    load_profile,
)

POLICIES = Path(__file__).parent.parent / "data" / "policies"
SITE = POLICIES / "site-jp.yaml"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for item in POLICIES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    return tmp_path / "site-jp.yaml"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _error(path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return caught.value


def test_builtin_profiles_encode_the_law() -> None:
    assert builtin_profiles() == ("jp-acd", "strict", "us-cisa2015")
    jp = load_profile("jp-acd")
    assert jp.classes[TrafficClass.DOMESTIC_TO_DOMESTIC] is Handling.NEVER
    assert {jp.classes[c] for c in TrafficClass if c is not TrafficClass.DOMESTIC_TO_DOMESTIC} == {Handling.APPROVAL}
    assert not {"dns_qname", "tls_sni", "http_host"} & set(jp.fields), "names are not mechanical information"
    assert jp.retention.days == 730 and jp.pseudonymize.addresses is PseudonymScope.DOMESTIC
    strict = load_profile("strict")
    assert set(strict.fields) < set(jp.fields) and strict.pseudonymize.addresses is PseudonymScope.ALL
    assert "dns_qname" in load_profile("us-cisa2015").fields


def test_site_policy_resolves(site: Path) -> None:
    policy = load_policy(site)
    assert policy.name == "jp-acd+test-carrier" and policy.base_profile == "jp-acd"
    assert [str(n) for n in policy.domestic] == ["192.0.2.0/24", "203.0.113.0/24", "2001:db8:a::/48"]
    assert [a.id for a in policy.approvals] == ["OC-2024-017"]
    assert load_keys(policy.keys, base=site.parent).ids == ("k2024", "k2025")
    assert len(policy.digest) == 64 and policy.digest == load_policy(site).digest


def test_digest_changes_with_the_meaning(site: Path) -> None:
    before = load_policy(site).digest
    _edit(site, "192.0.2.0/24", "192.0.2.0/25")
    assert load_policy(site).digest != before


def test_unknown_field_is_an_error_with_its_line(site: Path) -> None:
    _edit(site, "    purpose:", "    purpse: typo\n    purpose:")
    error = _error(site)
    assert error.path == str(site) and error.field == "approvals.0.purpse"
    assert error.line == site.read_text().splitlines().index("    purpse: typo") + 1
    assert "unknown field" in str(error)


def test_bad_prefix_names_line_and_field(site: Path) -> None:
    _edit(site, "203.0.113.0/24", "203.0.113.7/24")
    error = _error(site)
    line = next(i for i, text in enumerate(site.read_text().splitlines(), 1) if "prefixes:" in text)
    assert error.field == "domestic.prefixes.1" and error.line == line and "host bits" in str(error)


def test_bad_prefix_in_a_listed_file_names_that_file(site: Path) -> None:
    (site.parent / "domestic-v6.txt").write_text("# ours\n2001:db8:a::/48\nnot-a-prefix\n")
    error = _error(site)
    assert error.path == str(site.parent / "domestic-v6.txt") and error.line == 3


def test_a_site_may_only_narrow(site: Path) -> None:
    text = site.read_text()
    site.write_text(text + "fields: [start, end, orig_addr, resp_addr, dns_qname]\n")
    error = _error(site)
    assert error.field == "fields.4" and "not allowed by profile jp-acd" in str(error)
    site.write_text(text + "retention:\n  days: 3000\n")
    assert _error(site).field == "retention.days"
    site.write_text(text + "pseudonymize:\n  addresses: none\n")
    assert _error(site).field == "pseudonymize.addresses"


def test_no_approval_can_cover_what_the_profile_never_allows(site: Path) -> None:
    _edit(site, "classes: [foreign-to-domestic, domestic-to-foreign]", "classes: [domestic-to-domestic]")
    error = _error(site)
    assert error.field == "approvals.0.classes.0" and "never allows domestic-to-domestic" in str(error)


def test_pseudonymizing_needs_a_key(site: Path) -> None:
    text = site.read_text()
    start, end = text.index("keys:"), text.index("approvals:")
    site.write_text(text[:start] + text[end:])
    assert _error(site).field == "keys"


def test_expired_approval_refused_when_used(site: Path) -> None:
    policy = load_policy(site)
    policy.check_current(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(PolicyError) as caught:
        policy.check_current(datetime(2031, 1, 1, tzinfo=UTC))
    assert "OC-2024-017 expired" in str(caught.value) and caught.value.line is not None


def test_time_without_zone_and_inverted_window(site: Path) -> None:
    _edit(site, "valid_until: 2030-12-31T00:00:00Z", "valid_until: 2030-12-31T00:00:00")
    assert "zone" in str(_error(site))
    _edit(site, "valid_until: 2030-12-31T00:00:00", "valid_until: 2023-12-31T00:00:00Z")
    assert "after valid_from" in str(_error(site))


def test_missing_and_malformed_keys(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = load_policy(site)
    (site.parent / "test-key-2025.hex").unlink()
    with pytest.raises(PolicyError) as caught:
        load_keys(policy.keys, base=site.parent, source=str(site))
    assert "k2025" in str(caught.value) and "cannot read" in str(caught.value)
    (site.parent / "test-key-2025.hex").write_text("abcd\n")
    with pytest.raises(PolicyError, match="64 hexadecimal digits"):
        load_keys(policy.keys, base=site.parent)
    _edit(site, "    file: test-key-2025.hex", "    env: METAGATE_TEST_KEY")
    monkeypatch.delenv("METAGATE_TEST_KEY", raising=False)
    with pytest.raises(PolicyError, match="METAGATE_TEST_KEY is not set"):
        load_keys(load_policy(site).keys, base=site.parent)
    monkeypatch.setenv("METAGATE_TEST_KEY", "ab" * 32)
    with pytest.raises(PolicyError, match="degenerate"):
        load_keys(load_policy(site).keys, base=site.parent)
    monkeypatch.setenv("METAGATE_TEST_KEY", bytes(range(32)).hex())
    assert load_keys(load_policy(site).keys, base=site.parent).ids == ("k2024", "k2025")


def test_key_material_never_in_repr(site: Path) -> None:
    ring = load_keys(load_policy(site).keys, base=site.parent)
    assert "00112233" not in repr(ring) and "k2024" in repr(ring)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("extends: jp-acd\n  name: [\n", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
        ("extends: nowhere\nname: x\ndomestic: {prefixes: [192.0.2.0/24]}\n", "no built-in profile"),
        ("extends: jp-acd\nname: x\nname: y\n", "given twice"),
        ("extends: !!python/object:os.system x\n", "not allowed"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    error = _error(path)
    assert words in str(error) and str(path) in str(error)


def test_builtin_name_and_missing_file() -> None:
    assert load_policy("strict").profile.name == "strict"
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy("no/such/policy.yaml")
