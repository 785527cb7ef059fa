"""A season folder's episodes, shared by `sgtui ingest DIR` and `sgtui series run`: which
video goes with which subtitles, whether an output is already complete, and one episode's
ingest and embedding.

Apart from the clustering glue (`workflows`), so a series worker that only ingests and
embeds never imports the clustering engine (scipy among it: ~0.2 s a process). The series
(`sgtui/series/`) reaches ingest and the encoders through here, never directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sgtui.errors import SgtuiError
from sgtui.project import Project

VIDEO_SUFFIXES = (".mkv", ".mp4", ".m4v", ".webm", ".avi", ".mov", ".ts")


@dataclass(frozen=True)
class EmbedChoice:
    """`--embed`'s encoders and how they run, resolved and checked on the client (picklable:
    a series sends it to its workers)."""

    voice: str
    image: str
    device: str = "auto"
    batch: int = 32

    def model_ids(self) -> dict[str, str | None]:
        """The model id each encoder would store, where it can tell without loading."""
        from sgtui.features.registry import known_model_id

        return {m: (None if spec.lower() == "none" else known_model_id(spec, m))  # type: ignore[arg-type]
                for m, spec in (("voice", self.voice), ("image", self.image))}


def pair_season(folder: Path) -> tuple[list[tuple[Path, Path | None]], list[Path]]:
    """(video, its subtitle file or None) for each video; subtitle files with no video."""
    from sgtui.ingest import sidecar_subtitles
    from sgtui.media.subtitles import SUBTITLE_SUFFIXES

    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    pairs = [(v, sidecar_subtitles(v)) for v in videos]
    used = {s for _, s in pairs if s is not None}
    stems = {v.stem for v in videos}
    orphans = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUBTITLE_SUFFIXES
                     and p not in used and p.name.split(".")[0] not in stems)
    return pairs, orphans


def has_text_track(video: Path) -> bool:
    """Whether the video carries an embedded text subtitle track (a one-line error if it
    cannot be read at all)."""
    from sgtui.media import decode

    return any(t.text for t in decode.probe(video).subtitle_tracks)


def video_seconds(video: Path) -> float:
    """The video's duration (for a series' minutes of video per second)."""
    from sgtui.media import decode

    return decode.probe(video).duration_ms / 1000


def episode_state(out: Path, video: Path, embed: EmbedChoice | None = None) -> str:
    """What a season re-run does with ``out``: "complete" (a finished ingest of ``video``,
    and with ``embed`` its vectors of those encoders too: skipped), "embed" (a finished
    ingest still to embed), "unfinished" (an ingest of this video that stopped half way:
    done again) or "missing"/"other" (nothing there / some other file)."""
    if not out.is_file():
        return "missing"
    try:
        with Project.open(out, readonly=True) as p:
            if p.meta_get("ingest_state") == "running":
                same = (p.meta_get("source_name") == video.name
                        and p.meta_get("source_size") == str(video.stat().st_size))
                return "unfinished" if same else "other"
            if not (p.meta_get("ingest_state") == "complete"
                    and p.meta_get("source_name") == video.name
                    and p.meta_get("source_size") == str(video.stat().st_size)):
                return "other"
            if embed is not None and not _embedded(p, embed):
                return "embed"
            return "complete"
    except SgtuiError:
        return "other"


def _embedded(p: Project, embed: EmbedChoice) -> bool:
    """Every line with input has its vector from each chosen encoder, or that encoder's
    embedding ran to its end (its last act names it the file's model: lines whose input
    decoded empty get no vector). An encoder that tells its model only once loaded: not
    known to be done."""
    for modality, model in embed.model_ids().items():
        spec = embed.voice if modality == "voice" else embed.image
        if spec.lower() == "none":
            continue
        if model is None:  # known once loaded: the encoder the file says it last ran
            from sgtui.features.registry import parse_spec, spec_for_model

            model = p.meta_get(f"model.{modality}")
            if model is None or spec_for_model(model) != parse_spec(spec)[0].name:
                return False
        have = p.clip_ids() if modality == "voice" else p.keyframe_ids()
        if not (have <= p.embedded_ids(modality, model)
                or p.meta_get(f"model.{modality}") == model):
            return False
    return True


def episode_complete(out: Path, video: Path, embed: EmbedChoice | None = None) -> bool:
    """True when ``out`` is a finished ingest of ``video`` (a season re-run skips it)."""
    return episode_state(out, video, embed) == "complete"


def ingest_episode(video: Path, out: Path, opts, force: bool = False, progress=None,
                   after=None):
    """`sgtui.ingest.ingest` for one episode (the series reaches it through here)."""
    from sgtui.ingest import ingest

    kwargs = {} if progress is None else {"progress": progress}
    return ingest(video, out, opts, force=force, after=after, **kwargs)


def embed_episode(path: Path, choice: EmbedChoice, progress=None) -> dict:
    """Embed one finished episode file with `choice`'s encoders (as `sgtui embed`)."""
    from sgtui.features import embed_project

    with Project.open(path) as proj:
        return embed_project(proj, voice=choice.voice, image=choice.image, device=choice.device,
                             batch=choice.batch, progress=progress)
