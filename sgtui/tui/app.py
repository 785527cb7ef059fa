"""The annotator app: owns the open project, the player and the background workers.

Slow work never runs on the UI thread: clip decoding and re-clustering run in thread
workers and report back with `call_from_thread`; the file is polled every half second
(PRAGMA data_version) so another annotator's changes appear within a second.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from sgtui.errors import SgtuiError
from sgtui.project import Project
from sgtui.tui.config import Config
from sgtui.tui.idle_gc import TICK, IdleCollector
from sgtui.tui.main_screen import HELP, MainScreen
from sgtui.tui.modals import ClusterPicker, ConfirmPrompt, TextPrompt
from sgtui.tui.player import LineInfo, LinePlayer, NullPlayer, Player, join_clips
from sgtui.tui.state import AnnotatorState

POLL_SECONDS = 0.5
CHECKPOINT_IDLE = 2.0  # seconds without a key before the -wal is moved into the file
KEYFRAME_DELAY = 0.04  # a burst of cursor moves draws only its last keyframe

# path -> a PlannedRecluster (asked about, then written by the app), or a dict summary when
# the reclusterer wrote its result itself
Reclusterer = Callable[[Path], Any]


@dataclass(frozen=True)
class PlannedRecluster:
    """The engine's result, computed in a worker, and what writing it now would change."""

    plan: Any  # workflows.ReclusterPlan
    preview: dict  # {moved, into_reviewed, kept}


def default_recluster(path: Path) -> PlannedRecluster:
    """Run the engine on the file (its own connection: this runs in a thread); write nothing."""
    from sgtui.workflows import plan_recluster, preview_recluster

    with Project.open(path) as project:
        plan = plan_recluster(project)
        return PlannedRecluster(plan, preview_recluster(project, plan))


def binding_ids() -> set[str]:
    """Every binding id a user may remap in config.toml [keys]."""
    from sgtui.tui.audio_notice import AudioPageNotice
    from sgtui.tui.help_screen import HelpScreen
    from sgtui.tui.widgets import RowList

    owners = (MainScreen, RowList, ClusterPicker, TextPrompt, ConfirmPrompt, HelpScreen,
              AudioPageNotice)
    return {b.id for cls in owners for b in cls.BINDINGS if isinstance(b, Binding) and b.id}


def check_keymap(config: Config) -> None:
    """Refuse remapped keys whose binding id does not exist (a typo would silently do nothing)."""
    unknown = sorted(set(config.keys) - binding_ids())
    if unknown:
        raise SgtuiError(f"{config.path or 'config'}: unknown key binding id(s) {', '.join(unknown)}; "
                         "press ? in the app to see the ids")
    clash = key_collision(config.keys)
    if clash:
        key, first, second = clash
        raise SgtuiError(f"{config.path or 'config'}: key {key!r} would do both {first} and {second}; "
                         f"give one of them another key under [keys]")


def key_collision(keys: dict[str, str]) -> tuple[str, str, str] | None:
    """(key, binding id, binding id) when the remapped keys give one key two actions on the main
    screen (a key bound twice would silently lose one of them), else None."""
    from sgtui.tui.widgets import RowList

    owner: dict[str, str] = {}
    for b in [*MainScreen.BINDINGS, *RowList.BINDINGS]:
        if not isinstance(b, Binding) or not b.id:
            continue
        for key in keys.get(b.id, b.key).split(","):
            key = key.strip()
            if key in owner and owner[key] != b.id:
                return key, owner[key], b.id
            owner[key] = b.id
    return None


def prepare_terminal() -> None:
    """What must happen before the app starts in a real terminal.

    COLUMNS/LINES are dropped: Textual asks shutil.get_terminal_size(), which prefers them to
    the terminal, and CI runners and some shells export them, so the app would stay at, say,
    80x24 in a 120x36 window and ignore every resize. Then textual-image is imported, which
    asks the terminal what graphics it can draw; it cannot ask once the app owns the screen."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
    import textual_image.widget  # noqa: F401


class AnnotatorApp(App):
    """`sgtui open`: correct the clusters of one episode from the keyboard."""

    TITLE = "sgtui"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, project: Project, annotator: str, *, config: Config | None = None,
                 player: Player | None = None, reclusterer: Reclusterer | None = None,
                 poll_seconds: float = POLL_SECONDS, keyframe_delay: float = KEYFRAME_DELAY) -> None:
        super().__init__()
        self.project = project
        self.config = config or Config()
        self.state = AnnotatorState(project, annotator)
        self.player: Player = player or NullPlayer()
        self.reclusterer = reclusterer or default_recluster
        self.poll_seconds = poll_seconds
        self.keyframe_delay = keyframe_delay
        self.busy = ""
        self.idle_gc = IdleCollector()
        self._said_full = False
        self.sub_title = f"{project.path.name} — {annotator}" + (" — view only" if project.readonly else "")
        if self.config.keys:
            check_keymap(self.config)
            self.set_keymap(dict(self.config.keys))

    def get_default_screen(self) -> Screen:
        self.main = MainScreen(self.state, self.config.image, self.keyframe_delay)
        return self.main

    def on_mount(self) -> None:
        self.call_after_refresh(self.idle_gc.start)  # first screen first, then freeze
        self.set_interval(TICK, self.idle_gc.tick)
        self.set_interval(1.0, self.checkpoint_when_idle)
        if self.poll_seconds > 0:
            self.set_interval(self.poll_seconds, self.poll)
        if hasattr(self.player, "url"):  # the browser page: say once how to reach it
            self._player_name = self.player.name
            self.set_interval(0.5, self._watch_player)
            self.show_audio_page()

    def show_audio_page(self) -> None:
        """The notice with the tunnel command and the page's URL (stays until dismissed)."""
        from sgtui.tui.audio_notice import AudioPageNotice
        from sgtui.tui.player import is_remote

        player: Any = self.player
        self.push_screen(AudioPageNotice(player.url, player.ssh_line(), player.port_message,
                                         remote=is_remote()))

    def _watch_player(self) -> None:
        """Redraw the status bar when the page connects or goes away."""
        if self.player.name != self._player_name:
            self._player_name = self.player.name
            self.say("sound page connected" if getattr(self.player, "connected", False) else
                     "sound page disconnected; it reconnects by itself when the tunnel is back")

    def poll(self) -> None:
        """Show another process's committed changes."""
        if self.state.poll():
            self.main.redraw()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.idle_gc.key()  # garbage is collected between keys, not during them
        await super().on_event(event)

    def checkpoint_when_idle(self) -> None:
        """While the annotator pauses, move the -wal into the file: the .sgproj alone (what
        people copy and share, even with the app still open) then holds every action so far.
        Never waits for another annotator's reads; a full disk is said once."""
        if self.project.readonly or self.idle_gc.quiet_for() < CHECKPOINT_IDLE:
            return
        problem = self.project.checkpoint()  # (at once when the -wal is empty)
        full = problem is not None and any(k in problem.lower() for k in ("space", "full", "quota"))
        if full and not self._said_full:
            self._said_full = True
            self.say(f"disk full: your work is saved beside {self.project.path.name} (its -wal) but "
                     "not yet in the file; free some space before copying it")
        elif problem is None:
            self._said_full = False

    def on_unmount(self) -> None:
        if not self.project.readonly:
            self.project.checkpoint()  # the file is whole once the app is gone (close checks it)
        self.idle_gc.stop()
        self.player.stop()
        close = getattr(self.player, "close", None)
        if close is not None:
            close()

    # ---- command palette -----------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        for b in MainScreen.BINDINGS:
            if b.id in ("help", "quit"):
                continue
            yield SystemCommand(HELP.get(b.id or "", b.description).capitalize(),
                                f"key: {b.key}", partial(main.run_action, b.action))
        if hasattr(self.player, "url"):
            yield SystemCommand("Sound page", "the URL and ssh -L line of the browser player",
                                self.show_audio_page)

    # ---- playback ------------------------------------------------------------------------
    def play_lines(self, line_ids: list[int], what: str) -> None:
        """Fetch the clips here (fast), decode and play in a worker (never blocks)."""
        found = [(lid, c) for lid in line_ids if (c := self.project.clip(lid)) is not None]
        clips = [c for _, c in found]
        if not clips:
            self.say("no audio clip stored for this line" if line_ids else "no line selected")
            return
        if isinstance(self.player, LinePlayer):  # the page fetches the clips itself
            self._play_in_page(self.player, [lid for lid, _ in found], what)
            return
        if self.player.notice and isinstance(self.player, NullPlayer):
            self.say(self.player.notice)  # the status bar shows it whole (no toast copy on top)
        else:
            self.say(f"playing {what} ({len(clips)} clip{'s' if len(clips) > 1 else ''})")
        self._play_worker(clips)

    def line_infos(self, line_ids: list[int]) -> list[LineInfo]:
        """Time, text and cluster of each line, for a page that shows what it plays."""
        lines = self.state.lines
        return [LineInfo(lid, lines[lid].start_ms, lines[lid].end_ms, lines[lid].text,
                         self.state.speaker_of(lid)) for lid in line_ids if lid in lines]

    def _play_in_page(self, player: LinePlayer, line_ids: list[int], what: str) -> None:
        player.play_lines(self.line_infos(line_ids), what)
        n = len(line_ids)
        where = "in the browser" if getattr(player, "connected", True) else \
            "— no page open (ctrl+p: Sound page)"
        self.say(f"playing {what} ({n} clip{'s' if n > 1 else ''}) {where}")

    def _play_worker(self, clips: list) -> None:
        self.run_worker(partial(self._decode_and_play, clips), thread=True, exclusive=True,
                        group="audio", name="play")

    def _decode_and_play(self, clips: list) -> None:
        from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip

        worker = get_current_worker()
        try:
            pcm = [decode_clip(c.codec, c.sample_rate, c.data) for c in clips]
            if worker.is_cancelled:
                return
            self.player.play(join_clips(pcm, SAMPLE_RATE), SAMPLE_RATE)
        except SgtuiError as exc:
            self.call_from_thread(self.say, str(exc))

    # ---- WAV files (no player needed: scp them) --------------------------------------------
    wav_folder = "~/sgtui-clips/"

    def write_wav(self, line_ids: list[int], folder: str, montage: bool = False) -> None:
        """Write the lines' clips joined into one WAV under `folder`; the path goes to the
        status bar. The clips are read here, decoded and written in a worker."""
        clips = [c for c in (self.project.clip(lid) for lid in line_ids) if c is not None]
        if not clips:
            self.say("no audio clip stored for these lines; nothing written")
            return
        target = Path(folder.strip() or self.wav_folder).expanduser()
        self.wav_folder = folder.strip() or self.wav_folder
        stem = self.project.path.stem
        if montage:
            a = self.state.assign.get(line_ids[0])
            cluster = self.state.by_id.get(a.cluster_id) if a else None
            label = "lines" if cluster is None else cluster.name or f"cluster{cluster.id}"
            name = f"{stem}-{label}-montage"
        elif len(line_ids) == 1:
            name = f"{stem}-line{line_ids[0]}"
        else:
            name = f"{stem}-lines{line_ids[0]}-{line_ids[-1]}-{len(line_ids)}"
        name = re.sub(r"[^\w.+-]+", "_", name).strip("_")
        self.say(f"writing {len(clips)} clip{'s' if len(clips) > 1 else ''} to {target}…")
        self.run_worker(partial(self._write_wav, clips, target, name), thread=True,
                        group="wav", name="write-wav")

    def _write_wav(self, clips: list, folder: Path, name: str) -> None:
        from sgtui.media.wavout import write_clips_wav

        try:
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / f"{name}.wav"
            n = 2
            while out.exists():  # never overwrite an earlier file
                out, n = folder / f"{name}-{n}.wav", n + 1
            seconds = write_clips_wav(clips, out)
        except (OSError, SgtuiError) as exc:
            self.call_from_thread(self.say, f"could not write the WAV in {folder}: {exc}")
            return
        home = Path.home()
        shown = f"~/{out.relative_to(home)}" if out.is_relative_to(home) else str(out)
        self.call_from_thread(self.say, f"wrote {shown} ({seconds:.1f} s)")

    # ---- re-clustering -------------------------------------------------------------------
    def start_recluster(self) -> None:
        if self.busy:
            self.say("re-clustering is already running")
            return
        self.busy = "re-clustering…"
        self.say("re-clustering in the background; keep working")
        self.run_worker(self._recluster, thread=True, exclusive=True, group="recluster",
                        name="recluster")

    def _recluster(self) -> None:
        try:
            result: Any = self.reclusterer(self.project.path)
            self.call_from_thread(self._reclustered, result, None)
        except SgtuiError as exc:
            self.call_from_thread(self._reclustered, None, str(exc))
        except Exception as exc:  # a bug in the engine must not take the annotator down
            self.call_from_thread(self._reclustered, None, f"re-clustering failed: {type(exc).__name__}: {exc}")

    def _reclustered(self, result: Any, error: str | None) -> None:
        self.busy = ""
        self.state.refresh(full=True)
        if error:
            self.state.message = self.state.refused = error
        elif isinstance(result, PlannedRecluster):
            self.state.message = "re-clustering done"
            self.main.redraw()
            self._ask_recluster(result)
            return
        else:
            n = (result or {}).get("clusters", len(self.state.clusters))
            self.state.message = f"re-clustered: {n} clusters, {self.state.unassigned_count()} unassigned"
        self.main.redraw()

    def _ask_recluster(self, planned: PlannedRecluster) -> None:
        """Say how many lines the result moves and ask; nothing moves without a yes."""
        p = planned.preview
        if not p["moved"]:
            self._write_recluster(planned, True)
            return
        detail = (f"{p['kept']} lines of named or reviewed clusters stay where they are."
                  if p["kept"] else "No cluster is named or reviewed yet.")
        if p["into_reviewed"]:
            detail += f" {p['into_reviewed']} lines would join clusters someone reviewed."
        self.push_screen(ConfirmPrompt(f"Re-cluster: move {p['moved']} line{'s' if p['moved'] != 1 else ''}?",
                                       detail), partial(self._write_recluster, planned))

    def _write_recluster(self, planned: PlannedRecluster, yes: bool | None) -> None:
        if not yes:
            self.say("re-cluster cancelled; nothing changed")
            return
        from sgtui.workflows import apply_recluster

        self.main.do(lambda: self.state.write_recluster(
            lambda: apply_recluster(self.project, planned.plan, self.state.annotator)))

    # ---- messages ------------------------------------------------------------------------
    def say(self, message: str) -> None:
        self.state.message = message
        self.main.redraw()
