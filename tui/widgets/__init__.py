"""Reusable widgets of the certdeck TUI, one per module."""

from tui.widgets.cert_table import CertTable
from tui.widgets.details import DetailsView
from tui.widgets.filter_input import FilterInput
from tui.widgets.settings_form import SettingsForm
from tui.widgets.status_header import StatusHeader

__all__ = ["CertTable", "DetailsView", "FilterInput", "SettingsForm", "StatusHeader"]
