"""Flagging lines in the app: a small picker of the four flags, each a toggle.

Kept apart from the other modals and the state so flagging stays one small addition: the
main screen binds one key to `FlagPicker`, and `toggle_flag` runs the project's `flag`
action (one logged, undoable action; see `sgtui/project/flags.py`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from sgtui.errors import SgtuiError
from sgtui.project.flags import FLAG_LABELS, FLAGS
from sgtui.tui.state import AnnotatorState

KEYS = ("o", "n", "s", "w")  # overlap, noise, not speech, wrong subtitle (also 1-4)


class FlagPicker(ModalScreen[str | None]):
    """Choose one flag to toggle on the current (or marked) lines; Esc does nothing."""

    DEFAULT_CSS = """
    FlagPicker { align: center middle; }
    FlagPicker > Vertical { width: 48; height: auto; border: round $accent;
                            background: $surface; padding: 0 1; }
    FlagPicker .title { text-style: bold; }
    FlagPicker .hint { color: $text-muted; width: 100%; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel", id="flag_cancel")] + [
        Binding(f"{k},{i}", f"pick('{f}')", f, id=f"flag_{f}")
        for i, (k, f) in enumerate(zip(KEYS, FLAGS, strict=True), 1)
    ]

    def __init__(self, title: str, current: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            for i, (k, f) in enumerate(zip(KEYS, FLAGS, strict=True), 1):
                mark = "✓" if f in self.current else " "
                yield Label(f"{mark} {i}/{k}  {FLAG_LABELS[f]}")
            yield Label("a key toggles that flag · Esc: cancel", classes="hint")

    def action_pick(self, flag: str) -> None:
        self.dismiss(flag)

    def action_cancel(self) -> None:
        self.dismiss(None)


def current_flags(state: AnnotatorState) -> list[str]:
    """The flags of the first line the next action applies to."""
    t = state.targets()
    if not t:
        raise SgtuiError("no line selected; move to a line first")
    return state.project.line_flags().get(t[0], [])


def toggle_flag(state: AnnotatorState, flag: str) -> str:
    """Toggle `flag` on the target lines as one action (all follow the first line)."""
    t = state.targets()
    if not t:
        raise SgtuiError("no line selected; move to a line first")
    on = flag not in state.project.line_flags().get(t[0], [])
    state._run(lambda: state.project.flag(t, flag, state.annotator, value=on), "")
    what = f"line {t[0]}" if len(t) == 1 else f"{len(t)} lines"
    state.message = f"{'flagged' if on else 'unflagged'} {what}: {FLAG_LABELS[flag]}"
    return state.message
