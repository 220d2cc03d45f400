"""The pure table helpers: widths, issuer names, expiry text, filtering, sorting, the catalog."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from core.demo import DemoTree
from core.model import Inventory, UsedBy
from core.scan import scan
from core.scope import ALL, Scope, ScopeKind
from core.settings import load_settings
from tests.tui.harness import HOSTILE_CN, NOW, build_tree
from tui.display import (
    COLUMNS,
    Catalog,
    SortKey,
    build_row,
    column_widths,
    expires_text,
    filter_rows,
    gaps_before,
    issuer_short,
    sort_rows,
    type_text,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoTree, Inventory]:
    tree = build_tree(tmp_path_factory.mktemp("display"))
    settings = load_settings(tree.settings_path)
    inventory = asyncio.run(
        scan(tree.root, now=NOW, settings=settings, settings_path=tree.settings_path)
    )
    return tree, inventory


@pytest.mark.parametrize("width", [40, 80, 100, 120, 160, 200, 300])
def test_columns_fill_the_width_or_scroll_when_too_narrow(width: int) -> None:
    widths = column_widths(width)
    total = sum(widths) + sum(gaps_before(i) for i in range(len(COLUMNS)))
    assert all(w >= c.minimum for w, c in zip(widths, COLUMNS, strict=True))
    minimum = sum(c.minimum for c in COLUMNS) + sum(gaps_before(i) for i in range(len(COLUMNS)))
    if width >= minimum:
        assert total == width
    else:
        # The columns that fit end exactly at the edge; the rest scroll into view.
        edges = []
        position = 0
        for i, w in enumerate(widths):
            position += gaps_before(i) + w
            edges.append(position)
        assert width in edges
        assert total > width


def test_issuer_short_prefers_the_common_name_and_unescapes() -> None:
    assert issuer_short("CN=Demo Corp Issuing CA,O=Demo Corp,C=DE") == "Demo Corp Issuing CA"
    assert issuer_short("CN=Acme\\, Inc. CA,O=Acme") == "Acme, Inc. CA"
    assert issuer_short("O=Only Org,C=US") == "Only Org"
    assert issuer_short("CN=nul\\00byte") == "nul\x00byte"
    assert issuer_short("C=DE") == "C=DE"


def test_expiry_text_has_the_date_and_the_distance() -> None:
    assert expires_text(NOW + timedelta(days=39, hours=1), NOW) == "2027-01-05 · in 39 d"
    assert expires_text(NOW - timedelta(days=95), NOW) == "2026-08-24 · 3 mo ago"


def test_rows_make_hostile_text_visible(demo: tuple[DemoTree, Inventory]) -> None:
    tree, inventory = demo
    record = inventory.by_sha256()[tree.cert("hostile").sha256]
    row = build_row(record)
    assert row.name == HOSTILE_CN
    assert "\x1b" not in row.haystack
    assert "␛[31mevil␛[0m" in row.haystack


def test_filter_matches_every_word_in_names_paths_and_fingerprints(
    demo: tuple[DemoTree, Inventory],
) -> None:
    tree, inventory = demo
    rows = [build_row(r) for r in inventory.certificates]
    target = tree.cert("unknown-ca").sha256
    assert [r.sha256 for r in filter_rows(rows, "APPLIANCE localcerts")] == [target]
    colons = ":".join(target[i : i + 2] for i in range(0, 20, 2)).upper()
    assert [r.sha256 for r in filter_rows(rows, colons)] == [target]
    assert filter_rows(rows, "appliance nginx") == []
    problems = filter_rows(rows, "", problems_only=True)
    assert problems
    assert all(r.severity is not None and r.severity.rank <= 1 for r in problems)
    assert filter_rows(rows, "  ") == rows


def test_sorting_is_stable_by_name_and_reverses(demo: tuple[DemoTree, Inventory]) -> None:
    _, inventory = demo
    rows = [build_row(r) for r in inventory.certificates]
    by_status = sort_rows(rows, SortKey.STATUS)
    ranks = [r.status_key for r in by_status]
    assert ranks == sorted(ranks)
    by_expiry = sort_rows(rows, SortKey.EXPIRES, reverse=True)
    assert [r.not_after for r in by_expiry] == sorted((r.not_after for r in rows), reverse=True)
    by_used = sort_rows(rows, SortKey.USED_BY)
    # Certificates nobody uses come last.
    assert by_used[0].used_by
    assert not by_used[-1].used_by


def test_type_shows_declared_role_labels_only(demo: tuple[DemoTree, Inventory]) -> None:
    tree, inventory = demo
    billing = inventory.by_sha256()[tree.cert("billing-master").sha256]
    labels = frozenset(c.role for c in inventory.consumers if c.role)
    assert type_text(billing, labels) == "master key"
    chain = dataclasses.replace(billing, used_by=(UsedBy("apache", "/etc/x", 3, "chain"),))
    assert type_text(chain, labels) == billing.cert.role


def test_catalog_streams_then_the_final_inventory_replaces_everything(
    demo: tuple[DemoTree, Inventory],
) -> None:
    tree, inventory = demo
    catalog = Catalog()
    first = inventory.certificates[:5]
    catalog.upsert(first)
    version = catalog.version
    assert len(catalog.scoped(ALL)) == 5
    catalog.finish(inventory)
    assert catalog.version > version
    assert len(catalog.scoped(ALL)) == len(inventory.certificates)
    required = catalog.required(ALL, SortKey.NAME, False)
    assert {r.sha256 for r in required} == {c.sha256 for c in tree.certs if c.required}
    assert catalog.any_required
    nginx = Scope(ScopeKind.CONSUMER, "nginx")
    assert all(any(u.consumer == "nginx" for u in r.record.used_by) for r in catalog.scoped(nginx))
    assert catalog.counts(ALL).total == len(inventory.certificates)
    assert catalog.inventory("/", NOW) is inventory
    catalog.start_scan()
    assert catalog.unreadable == []


def test_catalog_inventory_while_scanning_holds_what_was_found(tmp_path: Path) -> None:
    catalog = Catalog()
    inventory = catalog.inventory(str(tmp_path), NOW)
    assert inventory.certificates == ()
    assert inventory.evaluated_at == NOW
