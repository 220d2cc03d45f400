"""The create wizard walked by keys: names, options, folder, preview, write, summary."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from textual.pilot import Pilot

from core.demo import DemoTree
from core.hostinfo import HostInfo, InterfaceAddress
from core.rootfs import RootFS
from tests.tui.harness import NOW, demo_app, scanned, screen_text
from tests.tui.wizards import at_step, closed, replace_text, report, type_text
from tui.screens.create_wizard import CreateOutcome, CreateWizard

INFO = HostInfo(
    "demo-server",
    "demo-server.example.org",
    (
        InterfaceAddress("lo", "127.0.0.1", "loopback"),
        InterfaceAddress("eth0", "192.0.2.10", "global"),
        InterfaceAddress("eth0", "2001:db8::10", "global"),
    ),
)


async def open_create(pilot: Pilot[Any], tree: DemoTree, results: list[Any]) -> CreateWizard:
    """Push the wizard on the running app (as ``n`` does) and wait for its first step."""
    wizard = CreateWizard(INFO, root=RootFS(str(tree.root)), now=NOW)
    await pilot.app.push_screen(wizard, results.append)
    await at_step(pilot, wizard, "hosts")
    return wizard


async def to_preview(
    pilot: Pilot[Any], wizard: CreateWizard, folder: Path, *, extra: str = "", ca: bool = False
) -> str:
    """Fill the form by keys (forever validity) and reach the preview; its text."""
    await pilot.press("down", "down")
    await type_text(pilot, extra)
    await pilot.press("enter")
    await at_step(pilot, wizard, "options")
    await pilot.press("down", "right", "right", "right")
    if ca:
        await pilot.press("down", "right")
    await pilot.press("enter")
    await at_step(pilot, wizard, "folder")
    await replace_text(pilot, str(folder))
    await pilot.press("enter")
    await at_step(pilot, wizard, "preview")
    return await report(pilot, wizard, "preview-report")


def certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


async def test_self_signed_with_every_address_and_a_wildcard(
    tree: DemoTree, tmp_path: Path
) -> None:
    app = demo_app(tree)
    out = tmp_path / "out"
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_create(pilot, tree, results)
        shown = screen_text(app)
        assert "demo-server.example.org, demo-server" in shown
        assert "127.0.0.1, 192.0.2.10, 2001:db8::10" in shown
        preview = await to_preview(pilot, wizard, out, extra="*.example.org")
        assert "SHA-256:" in preview
        assert "(no well-defined expiration)" in preview
        assert "wildcard" in preview
        assert "wildcard" in wizard.message
        assert not out.exists(), "the preview writes nothing"
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        summary = await report(pilot, wizard, "summary-report")
        assert "Created the server certificate demo-server.example.org" in summary
        await pilot.press("enter")
        await closed(pilot)
    [outcome] = results
    assert isinstance(outcome, CreateOutcome)
    assert outcome.ca is None
    keys = [f for f in out.iterdir() if f.suffix == ".key"]
    [key_file] = keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [cert_file] = [f for f in out.iterdir() if f.suffix == ".crt"]
    [cert] = certificates(cert_file)
    assert cert.issuer == cert.subject
    assert cert.not_valid_after_utc.year == 9999
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "demo-server.example.org",
        "demo-server",
        "*.example.org",
    ]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "192.0.2.10",
        "2001:db8::10",
    ]
    key = load_pem_private_key(key_file.read_bytes(), None)
    assert key.public_key() == cert.public_key()


async def test_issued_by_a_new_local_ca(tree: DemoTree, tmp_path: Path) -> None:
    app = demo_app(tree)
    out = tmp_path / "out"
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_create(pilot, tree, results)
        preview = await to_preview(pilot, wizard, out, ca=True)
        assert "Create a CA certificate" in preview
        assert "issuer:   CN=certdeck CA demo-server.example.org" in preview
        await pilot.press("enter")
        await at_step(pilot, wizard, "summary")
        await pilot.press("enter")
        await closed(pilot)
    [outcome] = results
    assert isinstance(outcome, CreateOutcome)
    assert outcome.ca is not None
    keys = sorted(f for f in out.iterdir() if f.suffix == ".key")
    assert len(keys) == 2
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    ca_file = next(f for f in out.iterdir() if f.name.startswith("certdeck") and f.suffix == ".crt")
    [ca] = certificates(ca_file)
    server_file = next(
        f for f in out.iterdir() if f.suffix == ".crt" and f != ca_file and "chain" not in f.name
    )
    server = certificates(server_file)[0]
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.0.2.10") in san.get_values_for_type(x509.IPAddress)


async def test_bad_name_and_cancel_write_nothing(tree: DemoTree, tmp_path: Path) -> None:
    app = demo_app(tree)
    out = tmp_path / "out"
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        wizard = await open_create(pilot, tree, results)
        await pilot.press("down", "down")
        await type_text(pilot, "bad_name")
        await pilot.press("enter")
        assert wizard.step == "hosts"
        assert "bad_name is not a valid host name" in wizard.message
        await replace_text(pilot, "")
        await to_preview(pilot, wizard, out)
        await pilot.press("escape")
        await closed(pilot)
    assert results == [None]
    assert not out.exists()
