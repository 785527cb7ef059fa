"""The annotator's main screen: clusters │ lines │ keyframe and details, status bar, footer.

Every key maps to one action here; each action asks the AnnotatorState to do it and
redraws. Refusals (a conflict, a bad target) become a one-line message, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input

from sgtui.errors import SgtuiError, one_line
from sgtui.tui.help_screen import HelpScreen
from sgtui.tui.modals import ClusterPicker, Pick, TextPrompt
from sgtui.tui.state import CLUSTER, POOL, TIMELINE, AnnotatorState, LineBinding
from sgtui.tui.widgets import (
    KeyframePanel,
    LineDetails,
    RowList,
    StatusBar,
    TextPane,
    cluster_header,
    cluster_row,
    cluster_row_key,
    line_row,
    line_row_key,
)

if TYPE_CHECKING:
    from sgtui.tui.app import AnnotatorApp

# binding id -> the longer text shown by `?` and the command palette
HELP = {
    "add": "add the line(s) to a cluster chosen by number or name ('new NAME' starts one)",
    "move": "move the line(s) to another cluster (remove + add, one action)",
    "remove": "remove the line(s) from their cluster (they become unassigned)",
    "merge": "merge the current cluster into another (by number or fuzzy name)",
    "rename": "name or rename the current cluster (completes names used in this project)",
    "confirm": "mark the current cluster reviewed / not reviewed",
    "accept_name": "accept the cluster's suggested name (Kyon? 0.93, from the bank or subtitles)",
    "accept_names": "accept every suggested name at or above the confidence the status bar shows",
    "name_merge": "merge the cluster into the one its suggested name points to",
    "undo": "undo your latest action (any depth, survives a restart)",
    "redo": "redo the action you undid last",
    "suggest_1": "unassigned line: accept suggestion 1",
    "suggest_2": "unassigned line: accept suggestion 2",
    "suggest_3": "unassigned line: accept suggestion 3",
    "mark": "mark / unmark the line and go down (actions apply to marked lines)",
    "clear": "clear the marks; leave search",
    "prev_cluster": "previous cluster",
    "next_cluster": "next cluster",
    "focus_clusters": "focus the cluster list",
    "focus_lines": "focus the line list",
    "play": "play the line",
    "montage": "play the cluster as a montage (up to 20 lines)",
    "stop": "stop playback",
    "context": "replay the line with the lines before and after it",
    "write_wav": "write the line (or the marked lines) to a WAV file, in a folder you choose",
    "write_montage_wav": "write the cluster montage to a WAV file, in a folder you choose",
    "pool": "show the unassigned pool with top-3 suggestions",
    "timeline": "show the whole episode in order, with speakers",
    "search": "filter lines by text as you type (Enter: keep the filter, Esc: drop it)",
    "doubt": "sort clusters and lines by doubt (most doubtful first) / back to normal",
    "review": "review queue: the next most doubtful line, then the next unreviewed cluster",
    "next_unreviewed": "the next cluster neither named nor marked reviewed",
    "conflict_keep": "merge conflict shown by r: keep the choice the merge kept (what you see now)",
    "conflict_other": "merge conflict shown by r: take the other copy's choice instead",
    "recluster": "re-cluster in the background, then confirm (named and reviewed clusters stay)",
    "flag": "flag the line(s): overlap, noise/music, not speech, wrong subtitle (toggles)",
    "help": "this list of keys",
    "quit": "quit (everything is already saved)",
    "cursor_up": "up in the focused list",
    "cursor_down": "down in the focused list",
    "page_up": "a page up",
    "page_down": "a page down",
    "first_row": "first row",
    "last_row": "last row",
}


DETAILS_MIN = 36  # under the lines the details keep this many columns; the keyframe gives way
KEYFRAME_MIN = 12  # a keyframe narrower than this tells nothing: it is left out


class SidePane(Container):
    """The keyframe and the details; when its size changes the keyframe is fitted again
    (the screen's own resize comes before a modal's screen lays this pane out)."""

    def on_resize(self) -> None:
        screen = self.screen
        if isinstance(screen, MainScreen):
            screen.fit_keyframe()


class MainScreen(Screen):
    """Cluster list │ lines of the selected cluster (or pool, timeline, search) │ keyframe."""

    # The line texts matter most: on an 80-column SSH terminal the side panes narrow so the
    # centre keeps room to read (at fixed widths it kept 10 columns, times only).
    # Below 100 columns the keyframe and details go under the lines (a strip across the
    # whole width), so a line's text keeps ~45 columns at 80x24; on a very wide terminal the
    # side pane grows with it, so the keyframe fills it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (120, "-wide"), (160, "-huge")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]

    DEFAULT_CSS = """
    #body { height: 1fr; }
    #clusters-pane { width: 30; border-right: solid $primary-darken-2; }
    #work { width: 1fr; layout: horizontal; }
    #lines-pane { width: 1fr; height: 1fr; }
    #side { width: 40; height: 1fr; border-left: solid $primary-darken-2; padding: 0 1; }
    MainScreen.-huge #side { width: 35%; }
    MainScreen.-medium #clusters-pane { width: 24; }
    MainScreen.-medium #side { width: 32; }
    MainScreen.-narrow #clusters-pane { width: 18; }
    MainScreen.-narrow #work { layout: vertical; }
    MainScreen.-narrow #side {
        width: 100%; height: 9; layout: horizontal; padding: 0;
        border-left: none; border-top: solid $primary-darken-2;
    }
    MainScreen.-narrow.-short #side { height: 6; }
    MainScreen.-narrow KeyframePanel { width: 28; height: 100%; max-height: 100%; margin-right: 1; }
    MainScreen.-narrow LineDetails { width: 1fr; }
    .pane-title { text-style: bold; background: $boost; width: 100%; padding: 0 1; }
    #clusters-title { padding: 0; text-wrap: nowrap; text-overflow: clip; }
    .-focused > .pane-title { background: $accent; color: $text; }
    RowList:focus { background-tint: $foreground 4%; }
    #search { dock: bottom; height: 1; border: none; padding: 0 1; display: none; }
    #search.-on { display: block; }
    LineDetails { height: 1fr; }
    Footer { scrollbar-size-horizontal: 0; }
    """

    BINDINGS = [
        Binding("a", "add", "add", id="add"),
        Binding("m", "move", "move", id="move"),
        Binding("x,delete", "remove", "remove", id="remove"),
        Binding("M", "merge", "merge", id="merge"),
        Binding("n", "rename", "name", id="rename"),
        Binding("c", "confirm", "reviewed", id="confirm"),
        Binding("y", "accept_name", "accept name", show=False, id="accept_name"),
        Binding("Y", "accept_names", "accept names", show=False, id="accept_names"),
        Binding("J", "suggested_merge", "suggested merge", show=False, id="name_merge"),
        Binding("u", "undo", "undo", id="undo"),
        Binding("U,ctrl+r", "redo", "redo", show=False, id="redo"),
        Binding("1", "suggest(1)", "sugg. 1", show=False, id="suggest_1"),
        Binding("2", "suggest(2)", "sugg. 2", show=False, id="suggest_2"),
        Binding("3", "suggest(3)", "sugg. 3", show=False, id="suggest_3"),
        Binding("space", "mark", "mark", show=False, id="mark"),
        Binding("escape", "clear", "clear", show=False, id="clear"),
        Binding("left_square_bracket", "step_cluster(-1)", "prev cluster", show=False, id="prev_cluster"),
        Binding("right_square_bracket", "step_cluster(1)", "next cluster", show=False, id="next_cluster"),
        Binding("left,h", "focus_pane('clusters')", "clusters", show=False, id="focus_clusters"),
        Binding("right,l,enter", "focus_pane('lines')", "lines", show=False, id="focus_lines"),
        Binding("p", "play", "play", show=False, id="play"),
        Binding("P", "montage", "montage", show=False, id="montage"),
        Binding("s", "stop", "stop", show=False, id="stop"),
        Binding("b", "context", "context", show=False, id="context"),
        Binding("w", "write_wav('lines')", "WAV", show=False, id="write_wav"),
        Binding("W", "write_wav('montage')", "montage WAV", show=False, id="write_montage_wav"),
        Binding("f", "view('pool')", "pool", show=False, id="pool"),
        Binding("t", "view('timeline')", "timeline", show=False, id="timeline"),
        Binding("slash", "search", "search", show=False, id="search"),
        Binding("d", "doubt", "doubt", show=False, id="doubt"),
        Binding("r", "review", "review", id="review"),
        Binding("greater_than_sign", "next_unreviewed", "unreviewed", show=False, id="next_unreviewed"),
        Binding("K", "resolve('kept')", "keep", show=False, id="conflict_keep"),
        Binding("O", "resolve('other')", "take other", show=False, id="conflict_other"),
        Binding("R", "recluster", "re-cluster", show=False, id="recluster"),
        Binding("F", "flag", "flag", show=False, id="flag"),
        Binding("question_mark", "help", "keys", id="help"),
        Binding("q", "app.quit", "quit", id="quit"),
    ]

    def __init__(self, state: AnnotatorState, image_mode: str = "auto",
                 keyframe_delay: float = 0.0) -> None:
        super().__init__()
        self.state = state
        self.image_mode = image_mode
        self.keyframe_delay = keyframe_delay
        self._drawn_revision = -1

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="clusters-pane"):
                yield TextPane("clusters", classes="pane-title", id="clusters-title")
                yield RowList(lambda i, w: cluster_row(self.state, i, w),
                              lambda i: cluster_row_key(self.state, i), id="clusters")
            with Container(id="work"):
                with Vertical(id="lines-pane"):
                    yield TextPane("", classes="pane-title", id="lines-title")
                    yield RowList(lambda i, w: line_row(self.state, i, w),
                                  lambda i: line_row_key(self.state, i), id="lines")
                    yield Input(placeholder="filter lines as you type · Enter keep · Esc drop",
                                id="search")
                with SidePane(id="side"):
                    yield KeyframePanel(self.image_mode, self.keyframe_delay, id="keyframe")
                    yield LineDetails(id="details")
        yield StatusBar(id="status")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def annotator_app(self) -> AnnotatorApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.query_one("#lines" if self.state.rows() else "#clusters", RowList).focus()
        self.redraw()
        # the list's width is known only once the breakpoints have laid the screen out
        self.call_after_refresh(self._draw_cluster_header)

    def on_screen_resume(self) -> None:
        """Back from a modal (e.g. the sound-page notice shown at start): widths may have
        settled meanwhile."""
        self.fit_keyframe()
        self._draw_details()
        self._draw_cluster_header()

    # ---- drawing -------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.call_after_refresh(self._after_resize)

    def _after_resize(self) -> None:
        self.fit_keyframe()
        self._draw_details()
        self._draw_cluster_header()

    def _draw_details(self) -> None:
        """The details are compact under the lines (narrow), full beside them."""
        self.query_one(LineDetails).show(self.state, compact=self.has_class("-narrow"))

    def _draw_cluster_header(self) -> None:
        width = self.query_one("#clusters", RowList).size.width
        if width:
            self.query_one("#clusters-title", TextPane).set(cluster_header(self.state, width))

    def fit_keyframe(self) -> None:
        """Under the lines (narrow terminals) the strip's height is what limits the picture:
        the keyframe pane gets the width that shows it whole at that height (a cell is about
        twice as tall as wide), but never more than leaves the details DETAILS_MIN columns
        (the line number, time, text, speaker and flags matter more than the picture); too
        narrow to tell anything, it is left out. Beside the lines it takes the side pane's
        width, set in CSS."""
        panel = self.query_one(KeyframePanel)
        if not self.has_class("-narrow"):
            if panel.styles.inline.has_rule("width"):
                panel.styles.clear_rule("width")
            panel.display = True
            return
        side = self.query_one("#side").content_region
        if not side.width or not side.height:
            return  # not laid out yet: the pane's resize calls again
        width = min(round(side.height * 2 * panel.aspect()), side.width - DETAILS_MIN - 1)
        panel.display = width >= KEYFRAME_MIN
        if panel.display and (panel.styles.width is None or panel.styles.width.value != width):
            panel.styles.width = width

    def redraw(self) -> None:
        """Bring every pane in line with the state (only visible rows are re-rendered)."""
        s = self.state
        changed = s.revision != self._drawn_revision
        self._drawn_revision = s.revision
        self.query_one("#clusters", RowList).show(len(s.cluster_rows()), s.cluster_cursor, changed)
        self.query_one("#lines", RowList).show(len(s.rows()), s.cursor, changed or bool(s.marked))
        self.query_one("#lines-title", TextPane).set(s.title())
        self._draw_cluster_header()
        self.query_one(KeyframePanel).show(s)
        self._draw_details()
        self.query_one(StatusBar).show(s, self.annotator_app.player.name, self.annotator_app.busy)

    def do(self, fn: Callable[[], Any]) -> bool:
        """Run one state action; a refusal becomes a message. True when it went through."""
        try:
            fn()
        except SgtuiError as exc:
            self.refuse(exc)
            return False
        self.redraw()
        return True

    def refuse(self, exc: SgtuiError) -> None:
        """Say why an action did not happen, in the status bar only: it shows a long message
        whole on lines of its own, and a toast on top of it would cover it with a copy."""
        self.state.message = self.state.refused = one_line(exc)
        self.redraw()

    def _cluster_or_refuse(self) -> int | None:
        try:
            self.state.check_writable()
            return self.state.current_cluster()
        except SgtuiError as exc:
            self.refuse(exc)
            return None

    def on_descendant_focus(self, event) -> None:
        """The pane holding the focused list gets a coloured title (not only a bold cursor)."""
        for pane in ("#clusters-pane", "#lines-pane"):
            self.query_one(pane).set_class(event.widget in self.query_one(pane).query("*"), "-focused")

    def on_row_list_moved(self, event: RowList.Moved) -> None:
        if event.rows.id == "clusters":
            self.do(lambda: self.state.select_cluster_row(event.index))
        else:
            self.do(lambda: self.state.set_cursor(event.index))

    # ---- actions on lines ----------------------------------------------------------------
    def _count(self) -> str:
        t = self.state.targets()
        return f"line {t[0]}" if len(t) == 1 else f"{len(t)} lines"

    def action_add(self) -> None:
        if not self.do(self._check_unassigned):
            return
        bound = self.state.bind_lines()
        self.app.push_screen(ClusterPicker(self.state, f"Add {self._count()} to…"),
                             lambda pick: self._placed(pick, bound))

    def _check_unassigned(self) -> None:
        self.state.check_writable()
        t = self.state.targets()
        if not t:
            raise SgtuiError("no line selected; move to a line first")
        placed = [lid for lid in t if lid in self.state.assign]
        if placed:
            raise SgtuiError(f"line {placed[0]} is already in {self.state.speaker_of(placed[0])}; "
                             "press the move key to put it elsewhere")

    def _placed(self, pick: Pick | None, bound: LineBinding) -> None:
        """The picker closed: act on the lines it was opened for, never on the cursor's now."""
        if pick is not None:
            self.do(lambda: self.state.place(pick.cluster_id, pick.name, bound))

    def _bound_lines(self) -> LineBinding | None:
        try:
            self.state.check_writable()
            return self.state.bind_lines()
        except SgtuiError as exc:
            self.refuse(exc)
            return None

    def action_move(self) -> None:
        bound = self._bound_lines()
        if bound is None:
            return
        here = bound.expect.get(bound.lines[0])
        self.app.push_screen(ClusterPicker(self.state, f"Move {self._count()} to…", exclude=here),
                             lambda pick: self._placed(pick, bound))

    def action_remove(self) -> None:
        self.do(self.state.remove)

    def action_suggest(self, rank: int) -> None:
        self.do(lambda: self.state.accept_suggestion(rank))

    def action_mark(self) -> None:
        self.do(self.state.toggle_mark)

    def action_clear(self) -> None:
        if self._drop_search():
            return
        if self.state.view not in (CLUSTER, POOL) and not self.state.marked:
            self.do(lambda: self.state.show(CLUSTER))
        else:
            self.do(self.state.clear_marks)

    # ---- actions on clusters -------------------------------------------------------------
    def action_merge(self) -> None:
        src = self._cluster_or_refuse()
        if src is None:
            return
        self.app.push_screen(
            ClusterPicker(self.state, f"Merge {self.state.cluster_label(src)} into…",
                          exclude=src, allow_new=False),
            lambda pick: pick and self.do(lambda: self.state.merge_into(pick.cluster_id, src)))

    def action_rename(self) -> None:
        if self._cluster_or_refuse() is None:
            return
        from sgtui.tui.names import completion_names, prompt_default

        bound = self.state.bind_cluster()
        self.app.push_screen(
            TextPrompt(f"Name for {self.state.cluster_label(bound.cluster_id)}",
                       prompt_default(self.state, bound.cluster_id, bound.name),
                       completion_names(self.state)),
            lambda name: name is not None and self.do(lambda: self.state.rename(name, bound)))

    def action_confirm(self) -> None:
        self.do(self.state.toggle_confirm)

    def action_accept_name(self) -> None:
        from sgtui.tui.names import accept

        self.do(lambda: accept(self.state))

    def action_accept_names(self) -> None:
        from sgtui.tui.names import accept_all

        self.do(lambda: accept_all(self.state))

    def action_suggested_merge(self) -> None:
        from sgtui.tui.names import follow_merge

        self.do(lambda: follow_merge(self.state))

    def action_undo(self) -> None:
        self.do(self.state.undo)

    def action_redo(self) -> None:
        self.do(self.state.redo)

    def action_recluster(self) -> None:
        if self.do(self.state.check_writable):
            self.annotator_app.start_recluster()

    def action_flag(self) -> None:
        from sgtui.tui.flags import FlagPicker, current_flags, toggle_flag

        try:
            current = current_flags(self.state)
        except SgtuiError as exc:
            self.refuse(exc)
            return
        self.app.push_screen(FlagPicker(f"Flag {self._count()}", current),
                             lambda flag: flag and self.do(lambda: toggle_flag(self.state, flag)))

    # ---- navigation and views ------------------------------------------------------------
    def action_step_cluster(self, step: int) -> None:
        self.do(lambda: self.state.step_cluster(step))

    def action_focus_pane(self, pane: str) -> None:
        self.query_one(f"#{pane}", RowList).focus()

    def action_view(self, view: str) -> None:
        if view == TIMELINE and self.state.view == TIMELINE:
            view = CLUSTER
        if view == POOL:
            self.do(lambda: self.state.select_cluster(None))
        else:
            self.do(lambda: self.state.show(view))
        self.query_one("#lines", RowList).focus()

    def action_search(self) -> None:
        """Open the filter under the lines: every key typed narrows them at once."""
        box = self.query_one("#search", Input)
        box.add_class("-on")
        box.value = self.state.query
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search" and event.input.has_class("-on"):
            self.do(lambda: self.state.search(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":  # keep the filter, go and work on its lines
            event.input.remove_class("-on")
            self.query_one("#lines", RowList).focus()

    def _drop_search(self) -> bool:
        """Esc in the filter box: close it and show the cluster again. True if it was open."""
        box = self.query_one("#search", Input)
        if not box.has_class("-on"):
            return False
        box.remove_class("-on")
        box.value = ""
        self.do(lambda: self.state.show(CLUSTER))
        self.query_one("#lines", RowList).focus()
        return True

    def action_review(self) -> None:
        self.do(self.state.review_next)
        self.query_one("#lines", RowList).focus()

    def action_resolve(self, which: str) -> None:
        """Decide the merge conflict the review queue shows (one undoable action)."""
        from sgtui.tui.conflicts import pick

        self.do(lambda: pick(self.state, which))

    def action_next_unreviewed(self) -> None:
        self.do(self.state.next_unreviewed_cluster)
        self.query_one("#lines", RowList).focus()

    def action_doubt(self) -> None:
        self.do(self.state.toggle_doubt_sort)

    # ---- playback ------------------------------------------------------------------------
    def action_play(self) -> None:
        cur = self.state.current_line()
        self.annotator_app.play_lines([cur] if cur is not None else [], "line")

    def action_montage(self) -> None:
        self.annotator_app.play_lines(self.state.line_ids_for_montage(), "montage")

    def action_context(self) -> None:
        self.annotator_app.play_lines(self.state.context_ids(), "line with context")

    def action_write_wav(self, what: str) -> None:
        """Ask for a folder (pre-filled with the last one), then write the WAV there."""
        montage = what == "montage"
        ids = self.state.line_ids_for_montage() if montage else self.state.targets()
        if not ids:
            self.refuse(SgtuiError("no line selected; move to a line first" if not montage else
                                   "no cluster selected; choose one in the cluster list first"))
            return
        label = "the cluster montage" if montage else self._count()
        app = self.annotator_app
        self.app.push_screen(
            TextPrompt(f"Write {label} as WAV into the folder", app.wav_folder,
                       hint="Enter: write · Esc: cancel"),
            lambda folder: folder is not None and app.write_wav(ids, folder, montage))

    def action_stop(self) -> None:
        self.annotator_app.player.stop()
        self.state.message = "stopped"
        self.redraw()

    # ---- help ----------------------------------------------------------------------------
    def key_rows(self) -> list[tuple[str, str, str]]:
        """(keys, what it does, binding id) for every binding, with remapped keys."""
        keymap = getattr(self.app, "_keymap", {})
        rows = []
        for b in [*self.BINDINGS, *RowList.BINDINGS]:
            assert isinstance(b, Binding)
            keys = keymap.get(b.id, b.key) if b.id else b.key
            shown = ", ".join(self.app.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))
            rows.append((shown, HELP.get(b.id or "", b.description), b.id or ""))
        rows.append(("tab", "switch between the lists", ""))
        rows.append(("ctrl+p", "command palette: every action by name", ""))
        rows.append(("ctrl+q", "quit, from anywhere (like q; everything is already saved)", ""))
        rows.append(("ctrl+c", "inside a prompt or picker: cancel it (like Esc)", ""))
        return rows

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_rows()))
