"""The system trust store under a fake root for each distribution family."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.parse import cert_facts, parse_bytes
from core.rootfs import RootFS
from core.truststore import (
    FAMILIES,
    REMOVED_ANCHORS,
    CommandOutcome,
    DistributionRoot,
    FamilyId,
    NotInTrustStore,
    RootRequired,
    TrustCommandFailed,
    TrustStoreUnknown,
    TrustWriteFailed,
    apply_trust,
    certificate_from_bytes,
    detect_family,
    plan_trust_add,
    plan_trust_export,
    plan_trust_remove,
    read_trust_store,
    system_anchors,
    write_trust_export,
)
from tests.certgen import NOW, make, write

CA = make("Example Internal CA", ca=True, days=3650, serial=11)
OTHER = make("Other CA", ca=True, days=3650, serial=12)
DISTRO = make("Distro Public Root", ca=True, days=7000, serial=13)

OS_RELEASE: dict[FamilyId, str] = {
    "debian": 'ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04"\n',
    "rhel": 'ID="rocky"\nID_LIKE="rhel centos fedora"\n',
    "suse": 'ID="opensuse-leap"\nID_LIKE="suse opensuse"\n',
    "p11-kit": "ID=arch\n",
}
EXPECTED: dict[FamilyId, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "debian": (
        "/usr/local/share/ca-certificates/certdeck-Example_Internal_CA.crt",
        ("update-ca-certificates",),
        ("update-ca-certificates", "--fresh"),
    ),
    "rhel": (
        "/etc/pki/ca-trust/source/anchors/certdeck-Example_Internal_CA.pem",
        ("update-ca-trust", "extract"),
        ("update-ca-trust", "extract"),
    ),
    "suse": (
        "/etc/pki/trust/anchors/certdeck-Example_Internal_CA.pem",
        ("update-ca-certificates",),
        ("update-ca-certificates",),
    ),
    "p11-kit": (
        "/etc/ca-certificates/trust-source/anchors/certdeck-Example_Internal_CA.crt",
        ("trust", "extract-compat"),
        ("trust", "extract-compat"),
    ),
}
BUNDLES: dict[FamilyId, str] = {
    "debian": "/etc/ssl/certs/ca-certificates.crt",
    "rhel": "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "suse": "/etc/ssl/ca-bundle.pem",
    "p11-kit": "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
}
DISTRO_FILES: dict[FamilyId, str] = {
    "debian": "/usr/share/ca-certificates/mozilla/Distro_Public_Root.crt",
    "rhel": "/usr/share/pki/ca-trust-source/anchors/distro.pem",
    "suse": "/usr/share/pki/trust/anchors/distro.pem",
    "p11-kit": "/usr/share/ca-certificates/trust-source/anchors/distro.crt",
}


def machine(tmp_path: Path, family: FamilyId) -> Path:
    """A server tree of the family: os-release, the distribution's root and bundle."""
    root = tmp_path / family
    write(root, "/etc/os-release", OS_RELEASE[family].encode())
    write(root, DISTRO_FILES[family], DISTRO.pem)
    write(root, BUNDLES[family], DISTRO.pem)
    if family == "debian":
        write(root, "/etc/ca-certificates.conf", b"# comment\nmozilla/Distro_Public_Root.crt\n")
    return root


def files(root: Path) -> set[str]:
    return {"/" + str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def never_run(argv: Sequence[str]) -> CommandOutcome:
    raise AssertionError(f"ran {argv} under --root")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_add_and_remove_under_root(tmp_path: Path, family: FamilyId) -> None:
    root = machine(tmp_path, family)
    fs = RootFS(root)
    assert detect_family(fs) == FAMILIES[family]
    before = files(root)
    expected_file, add_command, remove_command = EXPECTED[family]

    plan = plan_trust_add(CA.der, root=fs, now=NOW)
    assert not plan.execute
    assert not plan.needs_root
    assert [(c.action, c.path) for c in plan.changes] == [("write", expected_file)]
    assert plan.commands == (add_command,)
    text = "\n".join(plan.describe())
    assert expected_file in text
    assert "not run under --root" in text
    result = apply_trust(plan, runner=never_run, euid=1000)
    assert files(root) == before | {expected_file}
    written = root / expected_file.lstrip("/")
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert [f.facts.sha256 for f in parse_bytes(written.read_bytes()).certs] == [CA.sha256]
    assert result.ran == ()
    assert " ".join(add_command) in "\n".join(result.describe())

    # Adding again changes nothing.
    assert plan_trust_add(CA.der, root=fs, now=NOW).nothing_to_do

    removal = plan_trust_remove(CA.der, root=fs)
    assert removal.commands == (remove_command,)
    assert [(c.action, c.path) for c in removal.changes] == [
        ("keep", f"{REMOVED_ANCHORS}/{expected_file.rsplit('/', 1)[1]}"),
        ("remove", expected_file),
    ]
    apply_trust(removal, runner=never_run, euid=1000)
    kept = REMOVED_ANCHORS + "/" + expected_file.rsplit("/", 1)[1]
    assert files(root) == before | {kept}
    assert (root / kept.lstrip("/")).read_bytes() == CA.pem
    assert not read_trust_store(fs).trusted(CA.sha256)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_distribution_root_is_not_removed(tmp_path: Path, family: FamilyId) -> None:
    root = machine(tmp_path, family)
    fs = RootFS(root)
    before = {p: (root / p.lstrip("/")).read_bytes() for p in files(root)}
    with pytest.raises(DistributionRoot, match="not added by an administrator"):
        plan_trust_remove(DISTRO.der, root=fs)
    assert {p: (root / p.lstrip("/")).read_bytes() for p in files(root)} == before


@pytest.mark.parametrize("family", list(FAMILIES))
def test_deselecting_a_distribution_root(tmp_path: Path, family: FamilyId) -> None:
    root = machine(tmp_path, family)
    fs = RootFS(root)
    plan = plan_trust_remove(DISTRO.der, root=fs, deselect_distribution_root=True)
    assert plan.action == "deselect"
    assert any("rejects every certificate it issued" in w for w in plan.warnings)
    assert "WARNING:" in "\n".join(plan.describe())
    apply_trust(plan, runner=never_run, euid=1000)
    # The distribution's file stays where it is.
    assert (root / DISTRO_FILES[family].lstrip("/")).read_bytes() == DISTRO.pem
    if family == "debian":
        conf = (root / "etc/ca-certificates.conf").read_text()
        assert conf == "# comment\n!mozilla/Distro_Public_Root.crt\n"
        kept = root / REMOVED_ANCHORS.lstrip("/") / "ca-certificates.conf"
        assert kept.read_text() == "# comment\nmozilla/Distro_Public_Root.crt\n"
    else:
        blocklist = FAMILIES[family].blocklist_dirs[0]
        assert [c.path for c in plan.changes] == [f"{blocklist}/certdeck-Distro_Public_Root.pem"]
    assert not read_trust_store(fs).trusted(DISTRO.sha256)
    assert plan_trust_remove(DISTRO.der, root=fs, deselect_distribution_root=True).nothing_to_do


def test_an_administrators_anchor_can_be_removed(tmp_path: Path) -> None:
    root = machine(tmp_path, "rhel")
    fs = RootFS(root)
    write(root, "/etc/pki/ca-trust/source/anchors/corp.pem", CA.pem + OTHER.pem)
    view = read_trust_store(fs)
    assert [p.origin for p in view.places[CA.sha256]] == ["administrator"]
    plan = plan_trust_remove(CA.der, root=fs)
    assert [c.action for c in plan.changes] == ["keep", "rewrite"]
    assert "an administrator (not certdeck) added it" in plan.notes
    apply_trust(plan, runner=never_run, euid=1000)
    rest = parse_bytes((root / "etc/pki/ca-trust/source/anchors/corp.pem").read_bytes())
    assert [c.facts.sha256 for c in rest.certs] == [OTHER.sha256]
    kept = root / REMOVED_ANCHORS.lstrip("/") / "corp.pem"
    assert kept.read_bytes() == CA.pem + OTHER.pem


def test_removing_something_not_trusted(tmp_path: Path) -> None:
    fs = RootFS(machine(tmp_path, "debian"))
    with pytest.raises(NotInTrustStore):
        plan_trust_remove(OTHER.der, root=fs)


def test_a_symlinked_anchor_is_unlinked_not_its_target(tmp_path: Path) -> None:
    root = machine(tmp_path, "debian")
    target = write(root, "/opt/corp/ca.crt", CA.pem)
    link = root / "usr/local/share/ca-certificates/corp.crt"
    link.parent.mkdir(parents=True)
    link.symlink_to("/opt/corp/ca.crt")
    plan = plan_trust_remove(CA.der, root=RootFS(root))
    apply_trust(plan, runner=never_run, euid=1000)
    assert not link.is_symlink()
    assert target.read_bytes() == CA.pem


def test_names_are_never_reused(tmp_path: Path) -> None:
    root = machine(tmp_path, "debian")
    write(root, "/usr/local/share/ca-certificates/certdeck-Example_Internal_CA.crt", OTHER.pem)
    plan = plan_trust_add(CA.der, root=RootFS(root), now=NOW)
    assert plan.changes[0].path.endswith("/certdeck-Example_Internal_CA-1.crt")


def test_a_file_changed_after_planning_is_left_alone(tmp_path: Path) -> None:
    root = machine(tmp_path, "suse")
    fs = RootFS(root)
    anchor = write(root, "/etc/pki/trust/anchors/two.pem", CA.pem + OTHER.pem)
    plan = plan_trust_remove(CA.der, root=fs)
    anchor.write_bytes(CA.pem)
    with pytest.raises(TrustWriteFailed, match="changed since the plan"):
        apply_trust(plan, runner=never_run, euid=1000)
    assert anchor.read_bytes() == CA.pem
    assert not (root / REMOVED_ANCHORS.lstrip("/")).exists() or not any(
        (root / REMOVED_ANCHORS.lstrip("/")).iterdir()
    )


class Recorder:
    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.ran: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> CommandOutcome:
        self.ran.append(tuple(argv))
        return CommandOutcome(self.code, "1 added, 0 removed; done." if not self.code else "boom")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_commands_run_on_the_machine_itself(tmp_path: Path, family: FamilyId) -> None:
    root = machine(tmp_path, family)
    fs = RootFS(root)
    runner = Recorder()
    plan = plan_trust_add(CA.der, root=fs, now=NOW, execute=True)
    assert plan.needs_root
    assert "Then run:" in plan.describe()
    result = apply_trust(plan, runner=runner, euid=0)
    assert runner.ran == [EXPECTED[family][1]]
    assert [argv for argv, _ in result.ran] == [EXPECTED[family][1]]
    removal = plan_trust_remove(CA.der, root=fs, execute=True)
    apply_trust(removal, runner=runner, euid=0)
    assert runner.ran == [EXPECTED[family][1], EXPECTED[family][2]]


def test_without_root_rights_nothing_changes(tmp_path: Path) -> None:
    root = machine(tmp_path, "debian")
    before = files(root)
    plan = plan_trust_add(CA.der, root=RootFS(root), now=NOW, execute=True)
    runner = Recorder()
    with pytest.raises(RootRequired, match="sudo"):
        apply_trust(plan, runner=runner, euid=1000)
    assert files(root) == before
    assert runner.ran == []


def test_a_failing_command_is_reported(tmp_path: Path) -> None:
    root = machine(tmp_path, "rhel")
    plan = plan_trust_add(CA.der, root=RootFS(root), now=NOW, execute=True)
    with pytest.raises(TrustCommandFailed, match=r"update-ca-trust extract failed .*boom"):
        apply_trust(plan, runner=Recorder(1), euid=0)


def test_detection_from_layout_and_unknown(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    (layout / "etc/pki/trust/anchors").mkdir(parents=True)
    assert detect_family(RootFS(layout)) == FAMILIES["suse"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert detect_family(RootFS(empty)) is None
    with pytest.raises(TrustStoreUnknown, match="--family"):
        plan_trust_add(CA.der, root=RootFS(empty), now=NOW)
    plan = plan_trust_add(CA.der, root=RootFS(empty), now=NOW, family="rhel")
    assert plan.changes[0].path.startswith("/etc/pki/ca-trust/source/anchors/")


def test_warnings_for_odd_anchors(tmp_path: Path) -> None:
    fs = RootFS(machine(tmp_path, "debian"))
    leaf = make("leaf.example", issuer=CA, sans=("leaf.example",), serial=20)
    assert any(
        "neither a CA nor self-signed" in w
        for w in plan_trust_add(leaf.der, root=fs, now=NOW).warnings
    )
    expired = make("Old CA", ca=True, days=10, serial=21, not_before=NOW.replace(year=2020))
    assert any("expired" in w for w in plan_trust_add(expired.der, root=fs, now=NOW).warnings)


def test_system_anchors_and_certificate_files(tmp_path: Path) -> None:
    root = machine(tmp_path, "debian")
    write(root, "/usr/local/share/ca-certificates/corp.crt", CA.pem)
    write(root, "/opt/extra/other.pem", OTHER.pem)
    found = {f.sha256 for f in system_anchors(RootFS(root), ["/opt/extra"])}
    assert found == {DISTRO.sha256, CA.sha256, OTHER.sha256}
    assert certificate_from_bytes(CA.pem).sha256 == CA.sha256
    leaf = make("leaf.example", issuer=CA, serial=22)
    assert certificate_from_bytes(leaf.pem + CA.pem).sha256 == CA.sha256


def test_export_for_clients(tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = plan_trust_export(cert_facts(CA.der), destination=out)
    result = write_trust_export(plan)
    assert sorted(p.name for p in out.iterdir()) == [
        "Example_Internal_CA-install.txt",
        "Example_Internal_CA.crt",
    ]
    assert (out / "Example_Internal_CA.crt").read_bytes() == CA.pem
    text = (out / "Example_Internal_CA-install.txt").read_text()
    for words in (
        "Windows",
        "certutil -addstore -f Root Example_Internal_CA.crt",
        "macOS",
        "security add-trusted-cert",
        "Debian",
        "update-ca-certificates",
        "RHEL",
        "update-ca-trust extract",
    ):
        assert words in text
    assert ":".join(CA.sha256[i : i + 2] for i in range(0, 64, 2)).upper() in text
    assert list(result.instructions) == text.splitlines()
    again = plan_trust_export(cert_facts(CA.der), destination=out)
    assert again.files[0].path.name == "Example_Internal_CA-1.crt"
