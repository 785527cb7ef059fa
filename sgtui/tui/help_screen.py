"""`?`: every key of the annotator, with the binding id to remap it in config.toml."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sgtui.tui.config import config_path

LEGEND = Text.assemble(
    ("\nWhat the columns mean\n", "bold"),
    "lines   time · voice confidence (0–1: how surely the 3 nearest voices agree on the\n"
    "        line's cluster) · who put it there: a = the engine, H = placed by a human,\n"
    "        s = an imported guess · the text\n",
    "pool    time · up to three suggested clusters (1 2 3 accept them) · the text\n",
    "clusters  ✓ = marked reviewed · name or #id · lines · mean confidence, or mean doubt\n"
    "        (dbt: 0.5 = as near another cluster as its own) while sorted by doubt (d)\n",
    "status  annotator · lines in named clusters · net add/remove/merge of everyone\n",
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%; border: round $accent; background: $surface;
        padding: 0 1; scrollbar-size-vertical: 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close", id="help_close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        """rows: (keys as shown, what it does, binding id)."""
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        # the id is what README tells users to copy into [keys]: never cut, never wrapped;
        # the description wraps instead
        ids = [binding_id for _, _, binding_id in self.rows]
        header = "id for \\[keys]"
        table = Table(title="sgtui keys", expand=True, show_edge=False)
        table.add_column("key", style="bold cyan", min_width=6, max_width=16)
        table.add_column("action", ratio=1)
        table.add_column(header, style="dim", no_wrap=True,
                         min_width=max(len("id for [keys]"), *(len(i) for i in ids)))
        for keys, description, binding_id in self.rows:
            table.add_row(keys, description, binding_id)
        with VerticalScroll():
            yield Static(table, id="help-table")
            yield Static(LEGEND, id="legend")
            yield Static(Text(f"\nRemap keys in {config_path()} under [keys], e.g. merge = \"M,ctrl+m\".\n"
                         "Actions apply to the marked lines (space), else to the line under the cursor.\n"
                         "Esc closes this page."), classes="hint")
