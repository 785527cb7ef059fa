"""`sgtui ingest` (one video, or a season folder in parallel) and `sgtui sample`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sgtui.cli import validate
from sgtui.cli.common import examples, plural
from sgtui.errors import SgtuiError
from sgtui.paths import (
    check_input_file,
    check_input_path,
    check_output_folder,
    check_writable_folder,
    probe,
    refuse_input_as_output,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="cut a video into lines (clip + keyframe each) and store them in a .sgproj",
        description="Cut every spoken line of VIDEO into a 16 kHz Opus clip and a <= 480 px "
        "WebP keyframe (the frame on screen at the line's midpoint) and store them in one "
        "self-contained .sgproj. Lines come from --subs FILE, an embedded text track "
        "(--track N, default: the first dialogue track, preferring --lang), speech recognition "
        "(--asr) or voice activity (--vad); without any, a subtitle file named like the video "
        "or the first embedded text track is used. Given a folder, every video in it is "
        "ingested in parallel into OUTDIR/NAME.sgproj, paired with its subtitles by name. "
        "Re-running on an unfinished output resumes it; a season re-run also skips the "
        "episodes already finished.",
        epilog=examples("sgtui ingest ep01.mkv -o ep01.sgproj",
                        "sgtui ingest ep01.mp4 --subs ep01.ass --embed -o ep01.sgproj",
                        "sgtui ingest season1/ --asr --lang ja -o season1-projects/"),
    )
    p.add_argument("video", metavar="VIDEO|DIR", help="a video file, or a season folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--subs", metavar="FILE", type=Path, help="subtitles: SRT, ASS/SSA or WebVTT")
    src.add_argument("--track", metavar="N", type=validate.count,
                     help="read embedded text subtitle track N (counted from 0 among subtitle tracks)")
    src.add_argument("--asr", action="store_true",
                     help="no subtitles: recognise speech offline with faster-whisper (Whisper "
                     "base, multilingual; the language is detected per episode unless --lang "
                     "gives it); lines follow the pauses between turns")
    src.add_argument("--vad", action="store_true",
                     help="no subtitles: cut lines by voice activity alone (empty text)")
    p.add_argument("--lang", metavar="CODE",
                   help="preferred subtitle track language; with --asr the spoken language "
                   "(ja, zh, ko, en, ...), which skips detection")
    p.add_argument("--audio-track", metavar="N", type=validate.count, default=0,
                   help="audio track to cut clips from, counted from 0 (default 0)")
    p.add_argument("--asr-model", metavar="base|tiny.en|PATH",
                   help="model for --asr: base (default; Whisper base, multilingual), tiny.en "
                   "(smaller, English only) or a CTranslate2 Whisper model folder")
    p.add_argument("--zh-script", choices=["hans", "hant", "keep"],
                   help="with --asr: write Chinese in simplified (hans) or traditional (hant) "
                   "characters, converted with OpenCC, or as recognised (keep); default: "
                   "simplified for Mandarin (zh), as recognised otherwise (Cantonese stays "
                   "traditional)")
    p.add_argument("--style", metavar="S", nargs="+", action="extend", default=[],
                   help="keep only these ASS styles; replaces the default rule, which leaves "
                   "out OP/ED songs, signs, karaoke and notes (see --list-styles)")
    p.add_argument("--exclude-style", metavar="S", nargs="+", action="extend", default=[],
                   help="leave out these ASS styles")
    p.add_argument("--list-styles", action="store_true",
                   help="print the subtitles' styles and which the rule keeps, then stop")
    p.add_argument("--encoding", metavar="NAME",
                   help="subtitle text encoding (default: detected; UTF-8/16, GB18030, Big5, "
                   "Shift-JIS, Windows-1252)")
    p.add_argument("--embed", action="store_true",
                   help="also run the default voice and image encoders (see `sgtui embed`)")
    p.add_argument("--voice", metavar="ENCODER", type=validate.encoder("voice"),
                   help="voice encoder for --embed (as `sgtui embed --voice`)")
    p.add_argument("--image", metavar="ENCODER", type=validate.encoder("image"),
                   help="image encoder for --embed (as `sgtui embed --image`)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="device for --asr (CUDA in float16, else CPU in int8) and --embed")
    p.add_argument("--batch", type=validate.positive_int, default=None, metavar="N",
                   help="batch size for --embed (default 32)")
    p.add_argument("--bank", metavar="SERIES.sgbank",
                   help="with --embed: cluster the episode and suggest names from this character "
                   "bank (as `sgtui cluster EP --bank`)")
    p.add_argument("--jobs", type=validate.positive_int, default=None, metavar="N",
                   help="season folder: episodes ingested at once (default: CPU cores)")
    p.add_argument("-o", "--output", metavar="EP.sgproj|OUTDIR", type=Path,
                   help="the project file to write (a folder for a season)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=cmd_ingest)

    s = sub.add_parser(
        "sample",
        help="generate synthetic episodes (espeak-ng voices, drawn frames) for trying sgtui",
        description="Write synthetic episodes to DIR: NAME.mp4, NAME.srt, NAME.ass (true "
        "speaker names in the Name field, plus an OP song and a sign that the default style "
        "rule leaves out) and NAME.truth.csv (start,end,speaker,text in seconds). A season in "
        "miniature: four characters appear in every episode and each episode has one guest "
        "(speaking half as often), all in distinct espeak-ng voices (about one line in seven a "
        "short interjection such as 'Huh?'); each has its own look and is on screen in most, "
        "not all, of its lines. Needs espeak-ng.",
        epilog=examples("sgtui sample -o samples/",
                        "sgtui sample -o samples/ --episodes 3 --lines 120 --size 1280x720"),
    )
    s.add_argument("-o", "--output", metavar="DIR", type=Path, required=True)
    s.add_argument("--episodes", type=validate.int_in(1, validate.MAX_SAMPLE_EPISODES), default=2,
                   help=f"how many episodes, 1 to {validate.MAX_SAMPLE_EPISODES} (default 2)")
    s.add_argument("--lines", type=validate.int_in(2, validate.MAX_SAMPLE_LINES), default=80,
                   help=f"lines per episode, 2 to {validate.MAX_SAMPLE_LINES} (default 80)")
    s.add_argument("--seed", type=int, default=1, help="first episode's seed (default 1)")
    s.add_argument("--size", type=validate.frame_size, default="640x360", metavar="WxH",
                   help="frame size, divisible by 4, from 160x120 to 3840x2160 (default 640x360)")
    s.add_argument("--force", action="store_true", help="overwrite existing files")
    s.set_defaults(handler=cmd_sample)


# ---------------------------------------------------------------- ingest


def _options(args: argparse.Namespace):
    from sgtui.ingest import IngestOptions

    if args.asr_model and not args.asr:
        raise SgtuiError("--asr-model needs --asr")
    if args.zh_script and not args.asr:
        raise SgtuiError("--zh-script is for --asr; to convert subtitles' text, export with "
                         "sgtui export EP.sgproj --zh-script hans ...")
    if args.asr and args.lang and (args.asr_model or "").endswith(".en"):
        from sgtui.media.asr import language_code

        if language_code(args.lang) != "en":
            raise SgtuiError(f"--asr-model {args.asr_model} is English only but --lang is "
                             f"{args.lang}; pass --asr-model base for other languages")
    if args.subs is not None:
        check_input_file(args.subs, "subtitle file")
    return IngestOptions(subs=args.subs, track=args.track, lang=args.lang, asr=args.asr,
                         asr_model=args.asr_model, vad=args.vad, styles=tuple(args.style),
                         exclude_styles=tuple(args.exclude_style), encoding=args.encoding,
                         audio_track=args.audio_track, device=args.device,
                         zh_script=args.zh_script)


def cmd_ingest(args: argparse.Namespace) -> int:
    video = check_input_path(args.video, "video")
    opts = _options(args)
    if args.list_styles:
        return _list_styles(video, opts)
    if args.output is None:
        raise SgtuiError("give the output with -o EP.sgproj (or -o OUTDIR/ for a season folder)")
    bank = getattr(args, "bank", None)
    if bank is not None:
        if not args.embed:
            raise SgtuiError("--bank needs --embed (a bank matches voices); add --embed")
        if video.is_dir():
            raise SgtuiError("--bank takes one video; for a season folder run "
                             "`sgtui cluster EP --bank FILE` on each episode")
        if probe(bank) is None:
            raise SgtuiError(f"bank {bank} does not exist; make one with `sgtui bank add`")
        check_input_file(bank, "bank")
    embed = _embedder(args) if args.embed else None
    if bank is not None:
        _check_bank_first(bank, embed.voice)
    if video.is_dir():
        return _ingest_season(video, args.output, opts, args.force, args.jobs, embed)
    out = args.output
    refuse_input_as_output(out, (video, opts.subs, opts.asr_model))
    if out.is_dir():
        raise SgtuiError(f"{out} is a folder; give a file name like {out / (video.stem + '.sgproj')}")
    check_writable_folder(out)
    from sgtui.cli.common import progress_bar
    from sgtui.ingest import ingest

    report = ingest(video, out, opts, force=args.force, progress=progress_bar,
                    after=embed.from_audio if embed is not None else None)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    resumed = " (resumed)" if report.resumed else ""
    print(f"{out}: {plural(report.lines, 'line')} from {report.source}{resumed}, "
          f"{report.actors} with speaker names; made {plural(report.clips_made, 'clip')} and "
          f"{plural(report.keyframes_made, 'keyframe')}")
    if bank is not None:
        from sgtui.project import Project
        from sgtui.workflows import match_bank, recluster

        with Project.open(out) as project:
            summary = recluster(project, annotator="sgtui", bank=bank)
            named = match_bank(project, bank)
        print(f"clustered: {plural(summary['clusters'], 'cluster')}; names suggested for "
              f"{named['matched']} from {bank} (accept them in `sgtui open`), "
              f"{plural(named['suggested_merges'], 'suggested merge')}")
    return 0


def _check_bank_first(bank: str, voice: str) -> None:
    """The bank's refusals that `cluster --bank` would give after the whole ingest (an empty
    bank, another voice encoder), given before any clip is cut."""
    from sgtui.features.registry import known_model_id, spec_for_model
    from sgtui.project.bank import Bank

    with Bank.open(bank, readonly=True) as b:
        held = b.voice_model
    if held is None:
        raise SgtuiError(f"the bank {bank} is empty; add labelled episodes with "
                         f"`sgtui bank add {bank} EP.sgproj`")
    model = known_model_id(voice, "voice")
    if model is not None and model != held:
        spec = spec_for_model(held)
        todo = f"pass --voice {spec}, or " if spec else ""
        raise SgtuiError(f"the bank {bank} holds {held!r} voices but --embed would give "
                         f"{model!r}; {todo}use a bank of that encoder")


def _list_styles(video: Path, opts) -> int:
    from sgtui.ingest import gather_cues
    from sgtui.media import decode, subtitles

    if video.is_dir():
        raise SgtuiError("--list-styles takes one video")
    _, source, styles, notes, _ = gather_cues(video, opts, decode.probe(video),
                                           lambda: decode.decode_audio(video, track=opts.audio_track))
    if not styles:
        print(f"{source}: no styles")
        return 0
    print(f"{'style':24s} {'lines':>6s}  kept  why")
    for s in styles:
        print(f"{s.name:24s} {s.count:6d}  {'yes ' if s.kept else 'no  '}  {s.reason}")
    print(f"\nrule: {subtitles.DEFAULT_STYLE_RULE}")
    return 0


class _Embedder:
    """`--embed`: the default (or named) encoders, checked before any work starts.

    Voices are embedded from the stored clips, exactly as `sgtui embed` does: a line's
    vector is a function of the .sgproj alone, so a colleague who has only the file, a
    later `sgtui embed`, and a season's bank all see the same vectors. (Embedding the
    original audio instead differs by cosine 0.989 median, 0.91 at worst, on LibriSpeech
    lines, for the same speaker accuracy; see docs/encoders.md.)
    """

    def __init__(self, args: argparse.Namespace):
        try:
            from sgtui.features import DEFAULTS, embed_project
        except ImportError as exc:
            raise SgtuiError("--embed needs the encoders (sgtui.features.embed_project), which "
                             "this sgtui does not have; ingest without --embed") from exc
        self.embed_project = embed_project
        self.voice = args.voice or DEFAULTS["voice"]
        self.image = args.image or DEFAULTS["image"]
        self.device = args.device
        self.batch = args.batch or 32
        if self.device not in ("auto", "cpu"):  # one that is not there: refused before any work
            from sgtui.features.device import resolve_device

            resolve_device(self.device)

    def from_audio(self, proj, audio) -> None:
        """Called by ingest once the file is complete (the decoded audio is not needed)."""
        self.in_project(proj)

    def in_project(self, proj) -> None:
        from sgtui.cli.common import stage_progress

        with stage_progress("embed") as progress:
            self.embed_project(proj, voice=self.voice, image=self.image, device=self.device,
                               batch=self.batch, progress=progress)

    def path(self, path: Path) -> None:
        from sgtui.project import Project

        with Project.open(path) as proj:
            self.in_project(proj)


def _embedder(args: argparse.Namespace) -> _Embedder:
    return _Embedder(args)


def _ingest_season(folder: Path, outdir: Path, opts, force: bool, jobs: int | None,
                   embed) -> int:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from sgtui.cli.common import progress_bar
    from sgtui.season import VIDEO_SUFFIXES, episode_complete, has_text_track, pair_season

    if opts.subs is not None:
        raise SgtuiError("--subs names one file; a season folder pairs subtitles by name")
    check_output_folder(outdir)
    pairs, orphans = pair_season(folder)
    if not pairs:
        raise SgtuiError(f"{folder} holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    work: list[tuple[Path, Path]] = []
    skipped: list[str] = []
    by_lines = opts.asr or opts.vad or opts.track is not None
    for video, subs in pairs:
        if subs is None and not by_lines:
            try:
                has_track = has_text_track(video)
            except SgtuiError as exc:
                skipped.append(f"{video.name}: {exc}")
                continue
            if not has_track:
                skipped.append(f"{video.name}: no subtitles named {video.stem}.* and no text track")
                continue
        out = outdir / f"{video.stem}.sgproj"
        if not force and episode_complete(out, video):
            skipped.append(f"{video.name}: {out.name} is already complete (--force redoes it)")
            continue
        work.append((video, out))
    for o in orphans:
        print(f"note: {o.name} matches no video by name; skipped", file=sys.stderr)
    for s in skipped:
        print(f"note: skipped {s}", file=sys.stderr)
    if not work:
        if any("already complete" in x for x in skipped):
            return 0
        raise SgtuiError(f"no video in {folder} could be paired with subtitles; name them alike "
                         "(EP01.mkv + EP01.ass) or pass --asr/--vad")
    for video, out in work:
        refuse_input_as_output(out, [video, *(s for v, s in pairs if v == video)])
    if not outdir.exists():
        check_writable_folder(outdir)
        outdir.mkdir()
    elif not os.access(outdir, os.W_OK | os.X_OK):
        raise SgtuiError(f"cannot write in folder {outdir} (read-only); choose an output folder "
                         "you can write")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(work)))
    if opts.asr:  # each episode's recogniser gets its share of the cores, not all of them
        import dataclasses

        opts = dataclasses.replace(opts, asr_threads=max(1, (os.cpu_count() or 1) // jobs))
    failed = 0
    with progress_bar(len(work), "episodes") as advance, ProcessPoolExecutor(
            max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_season_worker, str(v), str(o), opts, force): (v, o)
                   for v, o in work}
        for fut in as_completed(futures):
            video, out = futures[fut]
            name = video.name
            ok, msg = fut.result()
            if ok:
                if embed is not None:
                    embed.path(out)
                print(msg)
            else:
                failed += 1
                print(f"sgtui: error: {name}: {msg}", file=sys.stderr)
            advance(1)
    return 2 if failed else 0


def _season_worker(video: str, out: str, opts, force: bool) -> tuple[bool, str]:
    """One episode in a worker process: (True, summary) or (False, the user error)."""
    from sgtui.ingest import ingest

    try:
        r = ingest(video, out, opts, force=force)
    except SgtuiError as exc:
        return False, str(exc)
    return True, (f"{out}: {plural(r.lines, 'line')} from {r.source}, {r.actors} with speaker names"
                  + (" (resumed)" if r.resumed else ""))


# ---------------------------------------------------------------- sample


def cmd_sample(args: argparse.Namespace) -> int:
    from fractions import Fraction

    from sgtui.cli.common import progress_bar
    from sgtui.media import synth

    out: Path = args.output
    check_output_folder(out)  # a folder or nothing (a loop, a file, a missing parent: refused)
    w, h = args.size  # checked and bounded by validate.frame_size, as --lines and --episodes
    if not synth.espeak_available():
        raise SgtuiError("sample needs espeak-ng for the voices; install it (apt install espeak-ng)")
    names = [f"sample{i + 1:02d}" for i in range(args.episodes)]
    for name in names:
        for suffix in (".mp4", ".srt", ".ass", ".truth.csv"):
            target = out / f"{name}{suffix}"
            if (probe(target) is not None or target.is_symlink()) and not args.force:
                raise SgtuiError(f"{target} already exists; pass --force to overwrite it")
    out.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        with progress_bar(args.lines, f"{name}: voices") as advance:
            cast, weights = synth.season_cast(i)
            ep = synth.make_episode(args.seed + i, args.lines, cast=cast, weights=weights,
                                    short_p=0.15, progress=advance)
        n_frames = int(ep.duration_ms / 1000 * Fraction(24000, 1001))
        tmp = out / f"{name}.partial.mp4"
        with progress_bar(n_frames, f"{name}: frames") as advance:
            synth.write_video(tmp, ep, w, h, progress=advance)
        tmp.replace(out / f"{name}.mp4")
        synth.write_srt(out / f"{name}.srt", ep.lines)
        synth.write_ass(out / f"{name}.ass", ep, width=w, height=h)
        synth.write_truth(out / f"{name}.truth.csv", ep.lines)
        print(f"{out / name}.mp4: {ep.duration_ms / 1000:.0f} s, {plural(len(ep.lines), 'line')}, "
              f"{synth.RECURRING} recurring characters + guest {ep.cast[-1].name} "
              "(+ .srt, .ass, .truth.csv)")
    return 0
