"""Pictures of the main views for the README: ``python -m tui.screenshots DIR``.

Builds the demo server tree with a fixed clock and host name, drives the app headless at
120x40 and writes one SVG per view into DIR, plus a PNG of each when ``rsvg-convert``
(Debian: ``librsvg2-bin``) is installed.  The PNGs use the font the SVGs ask for, Fira Code,
when it is installed (Debian: ``fonts-firacode``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.demo import SETTINGS_PATH, build_demo_tree

__all__ = ["NOW", "VIEWS", "View", "main", "take"]

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
HOST = "demo-server"
SIZE = (120, 40)


@dataclass(frozen=True)
class View:
    """One picture: its file name and the keys that lead to it from the first screen."""

    name: str
    keys: tuple[str, ...] = ()
    certificate: str | None = None
    """Label of a demo certificate to highlight (in All) before the keys are pressed."""


VIEWS: tuple[View, ...] = (
    View("required"),
    View("all", ("2",)),
    View("details", ("enter",), certificate="nginx-shop"),
    View("revocation", ("R", "enter"), certificate="postfix-submission"),
    View("settings", ("4",)),
    View("help", ("question_mark",)),
    View("unreadable", ("U",)),
)


async def _shoot(root: Path, view: View, folder: Path, label_sha: dict[str, str]) -> Path:
    from textual.widgets import Input

    from tui.app import CertdeckApp
    from tui.screens.main import MainScreen

    app = CertdeckApp(
        root=root,
        now=NOW,
        settings_path=Path(SETTINGS_PATH.lstrip("/")),
        host_name=HOST,
        demo=True,
    )
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        # The scan worker starts with the app; wait until it has.
        while app.scan_state.scans == 0:
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        main = app.screen_stack[0]
        assert isinstance(main, MainScreen)
        if view.certificate is not None:
            await pilot.press("2")
            await pilot.pause()
            main.table("all").move_to(label_sha[view.certificate])
        await pilot.press(*view.keys)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()
        name = f"{view.name}.svg"
        app.save_screenshot(filename=name, path=str(folder))
    return folder / name


def take(folder: Path, views: Sequence[View] = VIEWS) -> list[Path]:
    """Write the SVG pictures into ``folder``; return their paths."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="certdeck-shots-") as scratch:
        tree = build_demo_tree(Path(scratch) / "root", now=NOW)
        label_sha = {c.label: c.sha256 for c in tree.certs}
        here = Path.cwd()
        # From the tree's root the settings file shows as etc/certdeck/settings.toml,
        # not as a temporary path.
        os.chdir(tree.root)
        try:
            return [asyncio.run(_shoot(tree.root, view, folder, label_sha)) for view in views]
        finally:
            os.chdir(here)


def to_png(svgs: Sequence[Path]) -> list[Path]:
    """PNG copies made with ``rsvg-convert``; none when it is not installed."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        print(
            "rsvg-convert not found: PNG pictures skipped (install librsvg2-bin to get them)",
            file=sys.stderr,
        )
        return []
    pngs = []
    for svg in svgs:
        png = svg.with_suffix(".png")
        subprocess.run([tool, str(svg), "-o", str(png)], check=True)
        pngs.append(png)
    return pngs


def main(argv: Sequence[str] | None = None) -> int:
    """Write the pictures into the folder named on the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m tui.screenshots DIR", file=sys.stderr)
        return 2
    svgs = take(Path(args[0]))
    pngs = to_png(svgs)
    for path in [*svgs, *pngs]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
