"""Reusable widgets of the certdeck TUI, one per module."""

from tui.widgets.cert_table import CertTable
from tui.widgets.choice_set import ChoiceSet
from tui.widgets.details import DetailsView
from tui.widgets.file_picker import CertFileTree, FilePicker
from tui.widgets.filter_input import FilterInput
from tui.widgets.password_field import PasswordField
from tui.widgets.report_view import ReportView
from tui.widgets.settings_form import SettingsForm
from tui.widgets.status_header import StatusHeader
from tui.widgets.toggle import Toggle

__all__ = [
    "CertFileTree",
    "CertTable",
    "ChoiceSet",
    "DetailsView",
    "FilePicker",
    "FilterInput",
    "PasswordField",
    "ReportView",
    "SettingsForm",
    "StatusHeader",
    "Toggle",
]
