"""Choose a certificate file: a folder tree showing certificate-like files, or a typed path.

File names are hostile text: the tree and the path field show them through
:func:`core.text.visible`, and the file the user picked is remembered as the real path, so a
name with control characters still opens.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DirectoryTree, Input, Label, Tree
from textual.widgets.directory_tree import DirEntry

from core.parse import CERT_LIKE_SUFFIXES
from core.rootfs import printable_path
from core.text import visible

__all__ = ["CertFileTree", "FilePicker", "display_path", "typed_path"]


def display_path(path: Path | str) -> str:
    """A host path as shown to the user: the home folder as ``~``, control characters visible."""
    text = os.fspath(path)
    home = os.path.expanduser("~").rstrip("/")
    if home and (text == home or text.startswith(home + "/")):
        text = "~" + text[len(home) :]
    return visible(printable_path(text))


def typed_path(text: str) -> Path | None:
    """The host path a user typed (``~`` expanded, relative to the current folder)."""
    text = text.strip()
    if not text:
        return None
    return Path(os.path.abspath(os.path.expanduser(text)))


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


class CertFileTree(DirectoryTree):
    """Folders and the files whose names look like certificates, keys or PKCS#12."""

    # Plain symbols: emoji need fonts a server console or an old terminal may not have.
    ICON_NODE_EXPANDED = "▾ "
    ICON_NODE = "▸ "
    ICON_FILE = "  "

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "backspace",
            "parent",
            "Parent folder",
            key_display="⌫",
            id="files.parent",
            tooltip="Show the folder above this one",
        ),
    ]

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.root.set_label(Text(display_path(path)))

    async def watch_path(self) -> None:
        await super().watch_path()
        self.root.set_label(Text(display_path(Path(self.path))))

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        """Hidden entries are left out; files only when their name looks like certificates."""
        return [
            path
            for path in paths
            if not path.name.startswith(".")
            and (path.name.lower().endswith(CERT_LIKE_SUFFIXES) or _is_dir(path))
        ]

    def process_label(self, label: str | Text) -> Text:
        """File names with control characters or undecodable bytes are shown safely."""
        if isinstance(label, Text):
            return label
        return Text(visible(printable_path(label)))

    def action_parent(self) -> None:
        """Show the folder above."""
        current = Path(self.path)
        if current.parent != current:
            self.path = current.parent


class FilePicker(Vertical):
    """A path field above a folder tree; picking a file posts :class:`FilePicker.Chosen`.

    Args:
        start: The folder the tree shows first.
    """

    DEFAULT_CSS = """
    FilePicker {
        height: 1fr;
    }
    FilePicker #picker-row {
        height: 1;
        margin: 0 0 1 0;
    }
    FilePicker #picker-label {
        width: 14;
        text-style: bold;
    }
    FilePicker #picker-path {
        width: 1fr;
    }
    FilePicker #picker-tree {
        height: 1fr;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    """

    @dataclass
    class Chosen(Message):
        """A file was chosen (in the tree, or by typing its path)."""

        picker: FilePicker
        path: Path

    def __init__(self, start: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.start = start
        self._picked: tuple[str, Path] | None = None
        """What the path field shows for the entry last highlighted, and its real path."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="picker-row"):
            yield Label(Text("File"), id="picker-label")
            yield Input(
                compact=True,
                placeholder="type a path, or pick a file below",
                id="picker-path",
            )
        yield CertFileTree(self.start, id="picker-tree")

    @property
    def folders(self) -> DirectoryTree:
        """The folder tree."""
        return self.query_one("#picker-tree", DirectoryTree)

    @property
    def field(self) -> Input:
        """The path field."""
        return self.query_one("#picker-path", Input)

    @property
    def path(self) -> Path | None:
        """The path in the field: the highlighted entry's real path, or what was typed."""
        value = self.field.value
        if self._picked is not None and self._picked[0] == value:
            return self._picked[1]
        return typed_path(value)

    def show_folder(self, folder: Path) -> None:
        """Let the tree show another folder."""
        self.folders.path = folder
        self.folders.focus()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[DirEntry]) -> None:
        """The highlighted entry's path goes into the field (while the user browses)."""
        entry = event.node.data
        if entry is None or not self.folders.has_focus:
            return
        shown = display_path(entry.path)
        self._picked = (shown, entry.path)
        self.field.value = shown

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        """``enter`` on a file chooses it."""
        event.stop()
        self.post_message(self.Chosen(self, event.path))

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        """``enter`` on a folder opens or closes it (the tree does that itself)."""
        event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """A typed folder is shown in the tree; a typed file is chosen."""
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Act on the path in the field: show a folder, or choose a file."""
        path = self.path
        if path is None:
            self.folders.focus()
            return
        if _is_dir(path):
            self.show_folder(path)
            return
        self.post_message(self.Chosen(self, path))
