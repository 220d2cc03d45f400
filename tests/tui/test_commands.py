"""The command palette's commands and its certificate search."""

from __future__ import annotations

import asyncio
import re

import pytest
from textual.command import Hit
from textual.content import Content

from core.demo import DemoTree
from core.model import Inventory
from core.scan import scan
from core.settings import load_settings
from tests.tui.harness import HOSTILE_CN, NOW, build_tree, demo_app, scanned
from tui.commands import CertificatesProvider, match_row, palette_commands
from tui.display import build_row


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoTree, Inventory]:
    tree = build_tree(tmp_path_factory.mktemp("commands"))
    settings = load_settings(tree.settings_path)
    inventory = asyncio.run(
        scan(tree.root, now=NOW, settings=settings, settings_path=tree.settings_path)
    )
    return tree, inventory


def test_certificates_are_found_by_name_san_issuer_path_and_fingerprint(
    demo: tuple[DemoTree, Inventory],
) -> None:
    tree, inventory = demo
    rows = {r.sha256: build_row(r) for r in inventory.certificates}
    partner = rows[tree.cert("p7b-partner").sha256]
    assert match_row(partner, "partner.globex.example") == (1.0, "name")
    assert match_row(partner, "PARTNER") == (0.95, "name")
    assert match_row(partner, "globex-partner-chain") == (0.5, partner.record.locations[0].path)
    assert match_row(partner, "Globex TLS Issuing") == (0.6, "issuer Globex TLS Issuing CA 2024")
    sha = partner.sha256
    assert match_row(partner, sha[:10]) == (0.85, "fingerprint")
    colons = ":".join(sha[i : i + 2] for i in range(0, 10, 2)).upper()
    assert match_row(partner, colons) == (0.85, "fingerprint")
    hostile = rows[tree.cert("hostile").sha256]
    assert match_row(hostile, "Legit[/]") == (0.9, "name")
    assert match_row(hostile, "DNS:legit.demo.example") == (0.8, "DNS:legit.demo.example")
    assert match_row(hostile, "nothing like it") is None
    assert match_row(hostile, "   ") is None


async def test_every_action_is_a_verb_object_command(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        titles = [command.title for command in palette_commands(app)]
        assert all(re.fullmatch(r"[a-z]+: .+", title) for title in titles), titles
        for expected in (
            "show: required certificates",
            "show: all certificates",
            "show: details",
            "show: settings",
            "show: unreadable files",
            "show: keys",
            "scan: rescan the machine",
            "scope: choose",
            "filter: certificates by text",
            "toggle: problems only",
            "sort: by expiry",
            "sort: reverse order",
            "mark: every shown certificate",
            "copy: PEM of the highlighted certificate",
            "app: quit",
        ):
            assert expected in titles


async def test_certificate_hits_are_plain_text(tree: DemoTree) -> None:
    app = demo_app(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        await scanned(pilot)
        provider = CertificatesProvider(app.screen)
        hits = [hit async for hit in provider.search("Legit")]
        assert len(hits) == 1
        (hit,) = hits
        assert isinstance(hit, Hit)
        assert isinstance(hit.match_display, Content)
        assert HOSTILE_CN in hit.match_display.plain
        # Help lines are read as markup by the palette: they arrive escaped.
        assert hit.help is not None
        assert Content.from_markup(hit.help).plain == hit.help.replace("\\[", "[")
