"""Widgets that render an AnnotatorState; none of them changes it (they post messages).

`RowList` draws only the rows in view (Line API, as Toolong does), so a 5,000-line
timeline scrolls as smoothly as a 10-line cluster.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Hashable

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from sgtui.errors import one_line
from sgtui.tui.conflicts import status_hint as conflict_hint
from sgtui.tui.names import status_hint
from sgtui.tui.state import CLUSTER, POOL, AnnotatorState

ORIGIN_MARK = {"human": "H", "auto": "a", "suggested": "s", None: " "}


def clock(ms: int) -> str:
    """m:ss.d — short enough for a column, exact enough to find the line."""
    s, d = divmod(ms // 100, 10)
    m, s = divmod(s, 60)
    return f"{m:d}:{s:02d}.{d}"


def pad(text: str, width: int) -> str:
    """Pad or cut to exactly `width` terminal cells (CJK names are two cells a character)."""
    return set_cell_size(text, width)


def fmt_score(value: float | None) -> str:
    return "  – " if value is None else f"{value:4.2f}"[-4:] if value < 1 else "1.00"


class RowList(ScrollView, can_focus=True):
    """A virtual list of rows with a cursor; asks its owner to move the cursor."""

    DEFAULT_CSS = """
    RowList { height: 1fr; overflow-x: hidden; }
    """
    BINDINGS = [
        Binding("up,k", "step(-1)", "up", show=False, id="cursor_up"),
        Binding("down,j", "step(1)", "down", show=False, id="cursor_down"),
        Binding("pageup", "page(-1)", "page up", show=False, id="page_up"),
        Binding("pagedown", "page(1)", "page down", show=False, id="page_down"),
        Binding("home,g", "to(0)", "first", show=False, id="first_row"),
        Binding("end,G", "to(-1)", "last", show=False, id="last_row"),
    ]

    class Moved(Message):
        """The user asked for row `index` of `rows`."""

        def __init__(self, rows: RowList, index: int) -> None:
            super().__init__()
            self.rows = rows
            self.index = index

    def __init__(self, render_row: Callable[[int, int], Text],
                 row_key: Callable[[int], Hashable] | None = None, **kwargs) -> None:
        """render_row(index, width) draws a row; row_key(index), when given, names what the
        row shows, so an unchanged row is taken from a cache instead of drawn again."""
        super().__init__(**kwargs)
        self.render_row = render_row
        self.row_key = row_key
        self._strips: dict[Hashable, Strip] = {}
        self.count = 0
        self.cursor = 0
        self._style: Style | None = None

    def show(self, count: int, cursor: int, changed: bool = True) -> None:
        """Redraw with `count` rows and the cursor on row `cursor` (kept in view).

        When only the cursor moved (`changed` False) and no scrolling is needed, just the
        two rows involved are repainted: a key press then costs two lines, not a pane.
        """
        old = self.cursor
        self._style = None
        self.count, self.cursor = count, cursor
        if self.virtual_size.height != count or self.virtual_size.width != self.size.width:
            self.virtual_size = Size(self.size.width, count)
        height = self.scrollable_content_region.height or self.size.height
        top = int(self.scroll_y)
        scrolled = False
        if cursor < top:
            self.scroll_to(y=cursor, animate=False, immediate=True)
            scrolled = True
        elif height and cursor >= top + height:
            self.scroll_to(y=cursor - height + 1, animate=False, immediate=True)
            scrolled = True
        if changed or scrolled:
            self.refresh()
        elif old != cursor:
            width = self.size.width
            for row in (old, cursor):
                self.refresh(Region(0, row - top, width, 1))

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width or self.size.width
        if index >= self.count or width <= 0:
            return Strip.blank(width, self._base_style())
        key = None
        if self.row_key is not None:
            key = (self.row_key(index), width, index == self.cursor, self.has_focus)
            strip = self._strips.get(key)
            if strip is not None:
                return strip
        text = self.render_row(index, width)
        text.no_wrap = True
        text.overflow = "crop"
        if index == self.cursor:
            text.stylize(Style(reverse=True, bold=self.has_focus))
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop_extend(0, width, self._base_style()).simplify()
        if key is not None:
            if len(self._strips) > 4000:
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def _base_style(self) -> Style:
        """The widget's own style, computed once per redraw (Textual derives it anew each time)."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def _request(self, index: int) -> None:
        if self.count:
            self.post_message(self.Moved(self, max(0, min(index, self.count - 1))))

    def action_step(self, step: int) -> None:
        self._request(self.cursor + step)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        self._request(self.cursor + direction * height)

    def action_to(self, index: int) -> None:
        self._request(index if index >= 0 else self.count - 1)

    def on_click(self, event) -> None:
        self._request(int(self.scroll_y) + event.y)

    def on_focus(self) -> None:
        self._style = None
        self.refresh()

    def on_blur(self) -> None:
        self._style = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None
        self._strips.clear()


WITH_SCORE = 22  # a cluster list narrower than this shows no score column


def cluster_header(state: AnnotatorState, width: int) -> Text:
    """The cluster list's title names its columns: the last one is the mean voice confidence,
    or the mean doubt while sorted by doubt."""
    if width < WITH_SCORE:  # one number column: the size, or the doubt while sorted by it
        return Text(f"{pad(' clusters', max(1, width - 6))}{' dbt ' if state.sort_doubt else 'lines'} ",
                    no_wrap=True, overflow="crop")
    score = "dbt" if state.sort_doubt else "conf"
    return Text(f"{pad(' clusters', max(1, width - 12))}lines {score:<4} ", no_wrap=True, overflow="crop")


def cluster_row(state: AnnotatorState, index: int, width: int) -> Text:
    """One row of the cluster list: reviewed mark, label, size, mean confidence (or mean doubt
    while sorted by doubt: the value the list is ordered by)."""
    cid = state.cluster_rows()[index]
    if cid is None:
        n = state.unassigned_count()
        label = "unassigned" if width >= 18 else "pool"
        return Text(f"∅ {pad(label, width - 8)}{n:>5} ", style="italic")
    c = state.by_id[cid]
    mark = "✓" if c.confirmed else " "
    label = c.name or f"#{c.id}"
    text = Text(f"{mark} ")
    if width < WITH_SCORE:  # a narrow list keeps the names readable; the score is in details
        _append_label(text, state, c, max(1, width - 8))
        if state.sort_doubt:
            text.append(f" {fmt_score(state.cluster_doubt(cid))} ", style="yellow")
        else:
            text.append(f"{c.size:>5} ")
        return text
    _append_label(text, state, c, max(1, width - 14))
    text.append(f"{c.size:>5} ")
    if state.sort_doubt:
        text.append(fmt_score(state.cluster_doubt(cid)), style="yellow")
        text.append(" ")
    else:
        text.append(f"{fmt_score(state.mean_confidence(cid))} ")
    return text


def _append_label(text: Text, state: AnnotatorState, c, room: int) -> None:
    """The cluster's name or #id; an unnamed cluster with a suggested name shows the machine's
    guess as one: `Kyon? 0.93` (y accepts it), just `Kyon?` when the pane is narrow."""
    label = c.name or f"#{c.id}"
    sug = None if c.name else state.name_sugg.get(c.id)
    if sug is None:
        text.append(pad(label, room), style="bold" if c.name else "")
        return
    guess = f"{sug.name}? {sug.score:.2f}"
    if cell_len(label) + cell_len(guess) < room:
        guess = f"{label} {guess}"
    elif cell_len(guess) > room:
        guess = f"{sug.name}?"
    text.append(pad(guess, room), style="italic yellow")


def cluster_row_key(state: AnnotatorState, index: int) -> Hashable:
    """Everything a cluster row shows (rows with equal keys look the same)."""
    cid = state.cluster_rows()[index]
    if cid is None:
        return ("pool", state.unassigned_count())
    c = state.by_id[cid]
    score = ("doubt", state.cluster_doubt(cid)) if state.sort_doubt else state.mean_confidence(cid)
    sug = state.name_sugg.get(cid)
    return (cid, c.name, c.size, c.confirmed, score,
            None if sug is None else (sug.name, sug.score))


def line_row_key(state: AnnotatorState, index: int) -> Hashable:
    """Everything a line row shows in the current view."""
    lid = state.rows()[index]
    a = state.assign.get(lid)
    if state.view == CLUSTER:
        extra: Hashable = a.origin if a else None
    elif state.view == POOL:
        extra = tuple(state.cluster_label(s.cluster_id) for s in state.suggest.get(lid, [])[:3])
    else:
        extra = state.speaker_of(lid)
    return (state.view, lid, lid in state.marked, state.confidence.get(lid), extra)


def line_row(state: AnnotatorState, index: int, width: int) -> Text:
    """One row of the centre pane; its columns depend on the view."""
    lid = state.rows()[index]
    ln = state.lines[lid]
    a = state.assign.get(lid)
    mark = "●" if lid in state.marked else " "
    text = Text(f"{mark}{clock(ln.start_ms):>8} ")
    if state.view == CLUSTER:
        text.append(fmt_score(state.confidence.get(lid)))
        text.append(f" {ORIGIN_MARK.get(a.origin if a else None, '?')} ", style="dim")
    elif state.view == POOL:  # compact: the details pane shows the scores
        for k, sug in enumerate(state.suggest.get(lid, [])[:3]):
            text.append(f"{k + 1}", style="bold")
            text.append(f":{pad(state.cluster_label(sug.cluster_id), 8).rstrip()} ")
        text.append("│ ", style="dim")
    else:
        text.append(pad(state.speaker_of(lid), 10) + " ", style="bold" if a else "dim")
    text.append(ln.text.replace("\n", " "))
    return text


class TextPane(Static):
    """A fixed-size text area: updates skip the layout pass and unchanged text."""

    def set(self, text: Text | str) -> None:
        key = text.markup if isinstance(text, Text) else text
        if getattr(self, "_shown", None) != key:
            self._shown = key
            self.update(text, layout=False)


class LineDetails(TextPane):
    """Everything known about the current line.

    `compact` (under the lines, on a narrow terminal: about 8 rows of 36 columns): what
    identifies the line comes first and takes fewer rows — number, time, the whole text,
    speaker, flags — then suggestions and the subtitle's actor, as far as they fit."""

    def show(self, state: AnnotatorState, compact: bool = False) -> None:
        lid = state.current_line()
        if lid is None:
            self.set("no line selected")
            return
        ln = state.lines[lid]
        a = state.assign.get(lid)
        where = state.cluster_label(a.cluster_id) + f" ({a.origin})" if a else "unassigned"
        scores = []
        if lid in state.confidence:
            scores.append(f"confidence {state.confidence[lid]:.2f}")
        if a is not None and a.origin == "human":
            scores.append("placed by hand")  # a decision: never a doubt (engine.doubt)
        elif lid in state.doubt:  # what the review queue and the doubt sort go by
            scores.append(f"doubt {state.doubt[lid]:.2f}")
        flags = state.project.flags_of(lid)
        sugg = state.suggest.get(lid, [])[:3]
        out = Text()
        out.append(f"line {lid}", style="bold")
        if compact:
            out.append(f"  {clock(ln.start_ms)}–{clock(ln.end_ms)} ({ln.duration_ms / 1000:.1f} s)\n")
            out.append(f"{ln.text}\n", style="bold")
            out.append(f"speaker: {where}\n")
            if scores:
                out.append("  ".join(s.replace("confidence", "conf") for s in scores) + "\n")
            if flags:
                out.append(f"flagged: {', '.join(flags)}\n", style="magenta")
            if sugg:
                out.append("  ".join(f"{k + 1}: {state.cluster_label(s.cluster_id)} {s.score:.2f}"
                                     for k, s in enumerate(sugg)) + "\n")
        else:
            out.append(f"  #{ln.idx + 1} of {len(state.order)}\n")
            out.append(f"{clock(ln.start_ms)} – {clock(ln.end_ms)}  ({ln.duration_ms / 1000:.1f} s)\n")
            out.append(f"{ln.text}\n", style="bold")
            out.append(f"speaker: {where}\n")
            out.append("  ".join(scores) + "\n")
            for k, s in enumerate(sugg):
                out.append(f"  {k + 1}: {state.cluster_label(s.cluster_id)} {s.score:.2f}\n")
        if ln.actor:
            out.append(f"subtitle actor: {ln.actor}\n")
        if flags and not compact:
            out.append(f"flagged: {', '.join(flags)}\n", style="magenta")
        if len(state.marked) > 1 or (state.marked and lid not in state.marked):
            out.append(f"{len(state.marked)} lines marked\n", style="yellow")
        self.set(out)


class KeyframePanel(Vertical):
    """The current line's keyframe, drawn by textual-image (kitty/sixel or half-blocks)."""

    DEFAULT_CSS = """
    KeyframePanel { height: auto; max-height: 60%; }
    KeyframePanel > .kf-image { height: auto; width: 100%; }
    KeyframePanel > .kf-none { color: $text-muted; height: 1; }
    """

    def __init__(self, image_mode: str = "auto", delay: float = 0.0, **kwargs) -> None:
        """delay: seconds to wait before drawing a new keyframe (0: at once)."""
        super().__init__(**kwargs)
        self.image_mode = image_mode
        self.delay = delay
        self.line_id: int | None = -1
        self._pending = None

    def compose(self):
        yield image_widget(self.image_mode)
        yield Static("", classes="kf-none")

    _aspect = 16 / 9  # width / height of the latest keyframe (an episode's are all alike)

    def aspect(self) -> float:
        return self._aspect

    def show(self, state: AnnotatorState) -> None:
        """Follow the current line; with a delay, a burst of moves draws only the last image.

        The lists answer a key at once; the picture (the costliest part of a frame) follows
        `delay` later, so holding j does not render every keyframe it passes.
        """
        lid = state.current_line()
        if lid == self.line_id:
            return
        first = self.line_id == -1
        self.line_id = lid
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        if self.delay <= 0 or first:
            self._draw(state, lid)
        else:
            self._pending = self.set_timer(self.delay, lambda: self._draw(state, lid))

    def _draw(self, state: AnnotatorState, lid: int | None) -> None:
        self._pending = None
        if lid != self.line_id:
            return
        img = self.query_one(".kf-image")
        note = self.query_one(".kf-none", Static)
        kf = state.project.keyframe(lid) if lid is not None else None
        if kf is None:
            img.image = None
            img.display = False
            note.update("no keyframe" if lid is not None else "")
            note.display = True
            return
        from PIL import Image as PILImage

        picture = PILImage.open(io.BytesIO(kf.data))
        self._aspect = picture.width / max(1, picture.height)
        swap_image(img, picture)
        img.display = True
        note.display = False


def swap_image(widget, picture) -> None:
    """Show another picture; skip the layout pass when its size equals the current one.

    textual-image relayouts the whole screen on every new image; the keyframes of one
    episode share one size, so moving between lines only needs the image repainted.
    """
    old = getattr(widget, "_image", None)
    if old is None or (getattr(widget, "_image_width", None), getattr(widget, "_image_height", None)) \
            != tuple(picture.size) or not widget.display:
        widget.image = picture
        return
    repaint = widget.refresh
    widget.refresh = lambda *args, **kwargs: repaint()
    try:
        widget.image = picture
    finally:
        del widget.refresh


def image_widget(mode: str):
    """A textual-image widget for the configured mode ('auto' asks the terminal)."""
    from textual_image import widget as tiw

    cls = {
        "auto": tiw.Image, "sixel": tiw.SixelImage, "tgp": tiw.TGPImage,
        "halfcell": tiw.HalfcellImage, "unicode": tiw.UnicodeImage,
    }[mode]
    return cls(classes="kf-image")


class StatusBar(TextPane):
    """Annotator, progress, live operation counters, the latest message.

    An 80-column SSH terminal cannot hold every part, and the message (what the last key did,
    or why it was refused) matters more than the cluster count, so parts are dropped from the
    least needed until the bar fits; a message that still does not fit goes on a line of its
    own below (two at most), never cut to a few words."""

    _last: tuple[AnnotatorState, str, str] | None = None  # what show() drew, for a resize

    DEFAULT_CSS = """
    StatusBar { height: auto; max-height: 3; background: $boost; color: $text; padding: 0 1; }
    """

    def show(self, state: AnnotatorState, player_name: str = "", busy: str = "") -> None:
        done, total = state.progress()
        pct = 100 * done // total if total else 0
        net = state.counters.net
        # (text, style, drop rank): 0 never goes; higher ranks go first when space is short.
        parts: list[tuple[str, str, int]] = [
            *([(" VIEW ONLY ", "bold white on red", 0)] if state.view_only else []),
            (f" {state.annotator} ", "bold reverse", 0),
            (f" {done}/{total} named ({pct}%) ", "", 0),
            (f"add {net['add']} · remove {net['remove']} · merge {net['merge']} ", "", 0),
            (f"{len(state.clusters)} clusters · {state.unassigned_count()} unassigned ", "", 3),
        ]
        if state.sort_doubt:
            parts.append(("doubt ", "yellow", 2))
        hint = status_hint(state)
        if hint:
            parts.append((hint, "italic yellow", 2))
        conflicts = conflict_hint(state)
        if conflicts:
            parts.append((conflicts, "bold magenta", 1))
        if busy:
            parts.append((f"{busy} ", "bold yellow", 1))
        if player_name:  # the browser page's connection state always stays in view
            parts.append((f"♪ {player_name} ", "dim", 0 if player_name.startswith("page") else 4))
        width = self.size.width  # the content area, padding excluded
        message = one_line(state.message)  # a library's multi-line error still reads as one
        below = False  # the message gets lines of its own when it does not fit beside the parts
        if width > 0:
            fitted = _fit(parts, message, width)
            below = bool(message) and _cells(fitted, message) > width
            parts = _fit(parts, "", width) if below else fitted
        out = Text()
        first = 2 if state.view_only else 1  # the banner, the name and progress go unseparated
        for i, (text, style, _) in enumerate(parts):
            if i > first:
                out.append("│ ", style="dim")
            out.append(text, style=style)
        style = "italic bold red" if message and message == one_line(state.refused) else "italic"
        if message and below:
            msg = Text(message, style=style)
            msg.truncate(2 * width, overflow="ellipsis")  # two lines at most, whole words
            out.append("\n")
            out.append(msg)
        elif message:
            out.append("│ ", style="dim")
            out.append(message, style=style)
        self._last = (state, player_name, busy)
        lines = 1 + (len(msg.wrap(self.app.console, width)) if message and below else 0)
        if lines != getattr(self, "_lines", 1):  # the bar grows or shrinks: a layout pass
            self._lines = lines
            self._shown = out.markup
            self.update(out)
        else:
            self.set(out)

    def on_resize(self) -> None:
        if self._last:
            self.show(*self._last)


def _fit(parts: list[tuple[str, str, int]], message: str, width: int) -> list[tuple[str, str, int]]:
    """Drop the highest-ranked parts until the parts and the message fit in `width` cells."""

    parts = list(parts)
    while _cells(parts, message) > width and any(rank for _, _, rank in parts):
        del parts[max(range(len(parts)), key=lambda i: (parts[i][2], i))]
    return parts


def _cells(parts: list[tuple[str, str, int]], message: str) -> int:
    """Cells the parts and the message take on one line, separators included."""
    return (sum(cell_len(t) for t, _, _ in parts) + 2 * max(0, len(parts) - 2)
            + (cell_len(message) + 2 if message else 0))
