"""sgtui.media layer (see DESIGN.md §1): decoding, clips, keyframes, subtitles, ASR.

Modules: `subtitles` + `encoding` (files -> clean cues, style rule), `embedded` (text
tracks inside MKV/MP4), `decode` (one-pass audio; exact frames at given times), `pipeline`
(per-line clip and keyframe rows), `clipcodec` (the stored clip format), `keyframes`
(<= 480 px WebP), `asr` (faster-whisper / VAD), `asr_models` (which Whisper model; the
base model joined into the cache), `asr_lines` (line edges from voice activity + words),
`synth` (generated sample episodes).
Nothing here touches a project file: `sgtui.ingest` stores what these produce.
"""
