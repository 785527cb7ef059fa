"""Small modal screens: pick a cluster (by number or fuzzy name), type a name or a query."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from sgtui.tui.state import AnnotatorState, lines

NEW = "new"


@dataclass(frozen=True)
class Pick:
    """A picked target: a cluster id, or None for a new cluster (optionally named)."""

    cluster_id: int | None
    name: str | None = None


MODAL_CSS = """
ClusterPicker, TextPrompt, ConfirmPrompt { align: center middle; }
ClusterPicker > Vertical, TextPrompt > Vertical, ConfirmPrompt > Vertical {
    width: 64; height: auto; max-height: 80%; border: round $accent; background: $surface;
    padding: 0 1;
}
ClusterPicker OptionList { height: auto; max-height: 16; }
ClusterPicker .title, TextPrompt .title, ConfirmPrompt .title { text-style: bold; }
ClusterPicker .hint, TextPrompt .hint, ConfirmPrompt .hint { color: $text-muted; width: 100%; }
ConfirmPrompt Label { width: 100%; }
"""


class ClusterPicker(ModalScreen[Pick | None]):
    """Type a number (`12`, `#12`) or part of a name; Enter takes the top match."""

    DEFAULT_CSS = MODAL_CSS
    SCOPED_CSS = False
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="picker_cancel"),
        Binding("ctrl+c", "cancel", "cancel", show=False, priority=True, id="picker_ctrl_c"),
        Binding("down", "move(1)", "next", show=False, id="picker_down"),
        Binding("up", "move(-1)", "previous", show=False, id="picker_up"),
    ]

    def __init__(self, state: AnnotatorState, title: str, *, exclude: int | None = None,
                 allow_new: bool = True) -> None:
        super().__init__()
        self.state = state
        self.title_text = title
        self.exclude = exclude
        self.allow_new = allow_new

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(placeholder="number or name", id="picker-input",
                        suggester=SuggestFromList(self.state.name_choices(), case_sensitive=False))
            yield OptionList(id="picker-options")
            # the hint wraps inside the box (CSS width 100%) rather than lose its end at 80 columns
            hint = "Enter: top match · ↑↓: choose · Esc: cancel"
            if self.allow_new:
                hint += " · new NAME: a new cluster"
            yield Label(hint, classes="hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        q = query.strip()
        ranked = self.state.rank_clusters(q, self.exclude)
        wants_new = q.lower() == NEW or q.lower().startswith(NEW + " ")
        items = [Option(f"#{cid:<4} {self.state.by_id[cid].name or '':<16} "
                        f"{lines(self.state.by_id[cid].size):>10}", id=str(cid)) for cid in ranked[:50]]
        if self.allow_new:
            name = q[len(NEW):].strip() if wants_new else ("" if ranked or q.lstrip("#").isdigit() else q)
            new = Option(f"+ new cluster{(' ' + repr(name)) if name else ''}", id=f"{NEW}:{name}")
            items = [new, *items] if wants_new or not ranked else [*items, new]
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(items)
        if items:
            options.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._choose()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._choose()

    def _choose(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            self.app.bell()
            return
        oid = options.get_option_at_index(options.highlighted).id or ""
        if oid.startswith(NEW + ":"):
            self.dismiss(Pick(None, oid.split(":", 1)[1] or None))
        else:
            self.dismiss(Pick(int(oid)))

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            cur = options.highlighted or 0
            options.highlighted = max(0, min(cur + step, options.option_count - 1))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextPrompt(ModalScreen[str | None]):
    """One line of text (a cluster name, a search), with completion from `choices`."""

    DEFAULT_CSS = MODAL_CSS
    SCOPED_CSS = False
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="prompt_cancel"),
        # ctrl+c cancels, as in a shell (it would copy a selection in a plain Input)
        Binding("ctrl+c", "cancel", "cancel", show=False, priority=True, id="prompt_ctrl_c"),
    ]

    def __init__(self, title: str, value: str = "", choices: list[str] | None = None,
                 hint: str = "Enter: accept · Tab/→: complete · Esc: cancel") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.choices = choices or []
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(value=self.value, id="prompt-input",
                        suggester=SuggestFromList(self.choices, case_sensitive=False) if self.choices else None)
            if self.choices:
                yield Label("names: " + ", ".join(self.choices[:12]), classes="hint")
            yield Label(self.hint, classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmPrompt(ModalScreen[bool]):
    """A yes/no question (y or Enter: yes; n or Esc: no)."""

    DEFAULT_CSS = MODAL_CSS
    SCOPED_CSS = False
    BINDINGS = [
        Binding("y,enter", "answer(True)", "yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "no", id="confirm_no"),
        Binding("ctrl+c", "answer(False)", "no", show=False, priority=True, id="confirm_ctrl_c"),
    ]

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            if self.detail:
                yield Label(self.detail)
            yield Label("y / Enter: yes · n / Esc: no", classes="hint")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
