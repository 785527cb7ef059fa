"""Ingest glue: one video (+ subtitles, an embedded track, ASR or VAD) -> one .sgproj.

Lives beside the layers because it needs both `media` (decoding) and `project` (storing);
used by `sgtui ingest` and the benchmark.

Guarantees:
- every input is checked (video, audio track, subtitles, styles) before a file is created;
- the file says ``ingest_state = running`` from its first write and ``complete`` only after
  the last clip and keyframe are stored, so a failed ingest never looks complete;
- a re-run on a ``running`` file of the same source resumes: stored clips and keyframes
  are kept and only the missing ones are made;
- a user error found half-way (a video that breaks mid-decode) removes the file this run
  created, so nothing half-written is left behind.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgtui.errors import SgtuiError, plural
from sgtui.media import decode, subtitles
from sgtui.media.pipeline import Span, clip_rows, keyframe_rows
from sgtui.media.subtitles import Cue, StyleInfo
from sgtui.paths import check_writable_folder, refuse_input_as_output

ProgressFactory = Callable[[int | None, str], AbstractContextManager[Callable[[int], None]]]
BATCH = 32
MIN_CLIP_MS = 100  # a line starting closer than this to the media's end has no usable clip
# the progress description that makes the terminal bar show the real-time factor
ASR_PROGRESS = "ASR (s of audio)"


@contextlib.contextmanager
def _silent(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None


@dataclass(frozen=True)
class IngestOptions:
    subs: Path | None = None
    track: int | None = None
    lang: str | None = None
    asr: bool = False
    asr_model: str | None = None
    device: str = "auto"
    asr_threads: int | None = None  # CPU threads for --asr (a season shares the cores)
    zh_script: str | None = None  # --asr: hans, hant, keep; None: simplified for Mandarin
    vad: bool = False
    styles: tuple[str, ...] = ()
    exclude_styles: tuple[str, ...] = ()
    encoding: str | None = None
    audio_track: int = 0


@dataclass
class IngestReport:
    output: Path
    source: str
    lines: int = 0
    clips_made: int = 0
    keyframes_made: int = 0
    actors: int = 0
    resumed: bool = False
    styles: list[StyleInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


SIDE_SUFFIXES = subtitles.SUBTITLE_SUFFIXES


def sidecar_subtitles(video: Path) -> Path | None:
    """A subtitle file named like the video (NAME.ass, NAME.en.srt, ...), if there is one."""
    candidates = []
    for p in sorted(video.parent.glob(f"{_glob_escape(video.stem)}.*")):
        if p.suffix.lower() in SIDE_SUFFIXES and p.is_file():
            candidates.append(p)
    if not candidates:
        return None
    order = {s: i for i, s in enumerate(SIDE_SUFFIXES)}
    candidates.sort(key=lambda p: (len(p.name), order[p.suffix.lower()]))
    return candidates[0]


def _glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in s)


def gather_cues(video: Path, opts: IngestOptions, info: decode.MediaInfo,
                audio: Callable[[], decode.Audio], progress: ProgressFactory = _silent,
                original: dict[str, str] | None = None,
                ) -> tuple[list[Cue], str, list[StyleInfo], list[str], dict[str, str]]:
    """The lines to ingest, where they came from, the style report, notes for the user and
    facts to keep in the project's meta (the language speech recognition heard).

    When `original` is given and the lines come from subtitles, it receives the subtitle
    file's ``format``, decoded ``text`` and ``encoding`` (stored so exports can rewrite it).
    """
    notes: list[str] = []
    chosen = sum(x for x in (opts.subs is not None, opts.track is not None, opts.asr, opts.vad))
    if chosen > 1:
        raise SgtuiError("give only one of --subs, --track, --asr, --vad")
    if opts.asr or opts.vad:
        from sgtui.media import asr

        if opts.asr:
            sound = audio()
            with progress(int(len(sound.samples) / sound.rate), ASR_PROGRESS) as adv:
                cues, lang = asr.transcribe(sound, opts.asr_model, opts.lang, opts.device,
                                            progress=adv, threads=opts.asr_threads,
                                            zh_script=opts.zh_script)
            if not cues:
                raise SgtuiError(f"speech recognition heard no speech in {video.name}; check "
                                 "--audio-track, or give subtitles with --subs")
            from sgtui.media.asr_script import default_script

            script = opts.zh_script or default_script(lang)
            notes.append(f"speech recognition: language {lang}, {plural(len(cues), 'line')}"
                         + (f", Chinese script {script}" if script != "keep" else ""))
            return cues, "asr", [], notes, {"language": lang,
                                            "asr_model": opts.asr_model or asr.DEFAULT_MODEL,
                                            "zh_script": script}
        return asr.vad_cues(audio()), "vad", [], notes, {}
    from sgtui.media import embedded

    if opts.subs is not None:
        doc = subtitles.read_subtitles(opts.subs, opts.encoding)
        source = doc.format
    elif opts.track is not None:
        doc = embedded.read_track(video, opts.track, opts.lang)
        source = f"track:{doc.format}"
    else:
        side = sidecar_subtitles(video)
        if side is not None:
            doc = subtitles.read_subtitles(side, opts.encoding)
            source = doc.format
            notes.append(f"subtitles from {side.name}")
        elif any(t.text for t in info.subtitle_tracks):
            doc = embedded.read_track(video, None, opts.lang)
            source = f"track:{doc.format}"
        else:
            raise SgtuiError(f"no subtitles for {video.name}: no {video.stem}.ass/.srt/.vtt "
                             "beside it and no text track inside; give --subs FILE, --asr or --vad")
    cues, styles, more = _select(doc, opts)
    if original is not None and doc.text:
        original.update(format=doc.format, text=doc.text, encoding=doc.encoding)
    return cues, source, styles, notes + more, {}


def _select(doc: subtitles.SubtitleDoc, opts: IngestOptions
            ) -> tuple[list[Cue], list[StyleInfo], list[str]]:
    cues, styles = subtitles.select_styles(doc, list(opts.styles) or None,
                                           list(opts.exclude_styles) or None)
    notes = []
    if doc.encoding not in ("utf-8", "ascii"):
        notes.append(f"encoding {doc.encoding}")
    if doc.dropped_bad_times:
        notes.append(f"dropped {plural(doc.dropped_bad_times, 'zero-length or negative cue')}")
    if doc.dropped_empty:
        notes.append(f"dropped {plural(doc.dropped_empty, 'cue')} with no text")
    if doc.merged_duplicates:
        notes.append(f"merged {plural(doc.merged_duplicates, 'exact duplicate cue')}")
    dropped = [s for s in styles if not s.kept]
    if dropped:
        notes.append("left out styles: " + ", ".join(f"{s.name} ({s.count}, {s.reason})"
                                                     for s in dropped))
    if not cues:
        raise SgtuiError("no dialogue lines are left after style selection; list the styles "
                         "with --list-styles and choose with --style")
    return cues, styles, notes


def fit_to_media(cues: list[Cue], end_ms: float) -> tuple[list[Cue], list[str]]:
    """Drop cues that start after the media ends; say so. All gone -> a one-line error."""
    kept = [c for c in cues if c.start_ms < end_ms - MIN_CLIP_MS]
    notes = []
    if len(kept) < len(cues):
        if not kept:
            raise SgtuiError(f"all {len(cues)} subtitle lines start after the video ends "
                             f"({end_ms / 1000:.1f} s); are these the subtitles of another video?")
        notes.append(f"skipped {plural(len(cues) - len(kept), 'line')} starting after the video ends "
                     f"({end_ms / 1000:.1f} s)")
    return kept, notes


def ingest(video: str | Path, output: str | Path, opts: IngestOptions, force: bool = False,
           progress: ProgressFactory = _silent,
           after: Callable[[Any, decode.Audio], None] | None = None) -> IngestReport:
    """Ingest one video into ``output`` (see the module docstring for the guarantees).

    ``after(project, audio)`` runs once the file is complete, with the decoded 16 kHz
    audio still in memory (`--embed` embeds voices from it rather than from the clips).
    """
    from sgtui.project import LineIn, Project

    video, output = Path(video), Path(output)
    # before anything else: --force must never turn the video or the subtitles into the output
    refuse_input_as_output(output, (video, opts.subs, opts.asr_model))
    check_writable_folder(output)
    info = decode.probe(video)
    if not info.has_audio:
        raise SgtuiError(f"{video} has no audio track; sgtui groups lines by voice")
    if not 0 <= opts.audio_track < len(info.audio_languages):
        listed = ", ".join(f"{i}: {lang or '?'}" for i, lang in enumerate(info.audio_languages))
        raise SgtuiError(f"{video} has no audio track {opts.audio_track} (audio tracks: {listed})")
    if not info.has_video:
        raise SgtuiError(f"{video} has no video track; sgtui needs pictures for keyframes")
    audio_cache: list[decode.Audio] = []

    def audio() -> decode.Audio:
        if not audio_cache:
            audio_cache.append(decode.decode_audio(video, track=opts.audio_track))
        return audio_cache[0]

    original: dict[str, str] = {}
    cues, source, styles, notes, facts = gather_cues(video, opts, info, audio, progress, original)
    index = decode.index_video(video, opts.audio_track)
    # a line needs both sound and picture: the media ends where the shorter stream ends
    audio_end = audio_cache[0].end_ms if audio_cache else index.audio_end_ms
    media_end = index.ms(int(index.pts[-1])) + 1000 / max(info.fps, 1.0)
    if audio_end is not None:
        media_end = min(media_end, audio_end)
    cues, more = fit_to_media(cues, media_end)
    notes += more
    report = IngestReport(output, source, styles=styles, notes=notes)

    resumed = _resumable(output, video, force)
    created = False
    if not resumed:
        if output.exists() and not force:
            raise SgtuiError(f"{output} already exists; pass --force to overwrite it")
        # Built under a temporary name and renamed once it says "running": no moment
        # exists where `output` is there without its ingest state.
        partial = output.with_name(output.name + ".partial")
        _remove(partial)
        try:
            with Project.create(partial, title=output.stem) as new:
                with new.transaction():
                    new.meta_set("ingest_state", "running")
                    new.set_source(video)
                    new.meta_set("lines_source", source)
                    new.meta_set("clip_codec", "opus")
                    new.meta_set("keyframe_mime", "image/webp")
                    new.meta_set("audio_track", str(opts.audio_track))
                    _store_original_subtitles(new, original, cues)
                    for key, value in facts.items():
                        new.meta_set(key, value)
                new.add_lines([LineIn(c.start_ms, c.end_ms, c.text, source, c.style, c.actor)
                               for c in cues])
                new.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _remove(output)
            partial.rename(output)
        finally:
            _remove(partial)
        created = True
    proj = Project.open(output)
    try:
        lines = proj.lines()
        if [(ln.start_ms, ln.end_ms, ln.text) for ln in lines] != \
                [(c.start_ms, c.end_ms, c.text) for c in cues]:
            raise SgtuiError(f"{output} was started from other subtitles or options; "
                             "pass --force to start over")
        report.resumed = resumed
        report.lines = len(lines)
        report.actors = sum(1 for ln in lines if ln.actor)
        have_clip, have_frame = proj.clip_ids(), proj.keyframe_ids()
        spans = [Span(ln.id, ln.start_ms, ln.end_ms) for ln in lines]
        need_clip = [s for s in spans if s.key not in have_clip]
        need_frame = [s for s in spans if s.key not in have_frame]
        if need_clip or need_frame:
            with progress(len(need_clip) + len(need_frame), "clips + keyframes") as advance:
                _make_media(proj, video, index, audio, need_clip, need_frame, report, advance)
        proj.meta_set("ingest_state", "complete")
        if after is not None:
            after(proj, audio())
    except SgtuiError:
        complete = proj.meta_get("ingest_state") == "complete"
        proj.close()
        if created and not complete:
            _remove(output)
        raise
    except BaseException:
        proj.close()
        raise
    proj.close()
    return report


def _store_original_subtitles(proj: Any, original: dict[str, str], cues: list[Cue]) -> None:
    """Keep the subtitle file's text (small) so the .sgproj alone can export it again; for
    ASS also which Dialogue row became which line (`subs_rows`: [[row, line idx], ...])."""
    if not original:
        return
    import json

    proj.meta_set("subs_format", original["format"])
    proj.meta_set("subs_text", original["text"])
    proj.meta_set("subs_encoding", original.get("encoding", "utf-8"))
    if original["format"] in ("ass", "ssa"):
        rows = subtitles.ass_event_rows(original["text"], cues)
        proj.meta_set("subs_rows", json.dumps(sorted(rows.items()), separators=(",", ":")))


def _make_media(proj: Any, video: Path, index: decode.VideoIndex,
                audio: Callable[[], decode.Audio], need_clip: list[Span],
                need_frame: list[Span], report: IngestReport,
                advance: Callable[[int], None]) -> None:
    """Clips (audio decode + Opus, in a worker thread) alongside keyframes (video decode +
    WebP, in this thread); PyAV releases the GIL, so the two overlap. Only this thread
    writes to the project, batch by batch, so an interruption keeps what is stored."""
    stop = threading.Event()
    rows_q: queue.Queue[list | None] = queue.Queue()

    def make_clips() -> None:
        try:
            for rows in _batched(clip_rows(audio(), need_clip)):
                if stop.is_set():
                    return
                rows_q.put(rows)
        finally:
            rows_q.put(None)

    def store_clips(block: bool) -> bool:
        """Store what the worker made; True once it has finished."""
        while True:
            try:
                rows = rows_q.get(block=block)
            except queue.Empty:
                return False
            if rows is None:
                return True
            proj.put_clips(rows)
            report.clips_made += len(rows)
            advance(len(rows))

    with ThreadPoolExecutor(max_workers=1) as pool:
        worker = pool.submit(make_clips) if need_clip else None
        clips_done = worker is None
        try:
            for rows in _batched(keyframe_rows(video, need_frame, index)):
                proj.put_keyframes(rows)
                report.keyframes_made += len(rows)
                advance(len(rows))
                if not clips_done:
                    clips_done = store_clips(block=False)
                    if clips_done or worker.done():
                        worker.result()  # a failed clip worker stops the run now
            while not clips_done:
                clips_done = store_clips(block=True)
            if worker is not None:
                worker.result()
        except BaseException:
            stop.set()
            raise


def _batched(rows: Iterator, size: int | None = None) -> Iterator[list]:
    size = size or BATCH
    batch: list = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _resumable(output: Path, video: Path, force: bool) -> bool:
    """True when ``output`` is an unfinished ingest of this very video."""
    if force or not output.exists():
        return False
    from sgtui.project import Project

    try:
        with Project.open(output, readonly=True) as p:
            state = p.meta_get("ingest_state")
            same = (p.meta_get("source_name") == video.name
                    and p.meta_get("source_size") == str(video.stat().st_size))
    except SgtuiError:
        return False
    if state == "running" and same:
        return True
    if state == "running":
        raise SgtuiError(f"{output} is an unfinished ingest of another video; "
                         "pass --force to overwrite it")
    return False


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
              path.with_name(path.name + "-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
