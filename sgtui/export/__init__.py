"""Exports: what the labelling is for — subtitles with speakers, RTTM, dialogue text and
voice-training datasets (README "Export"). Reads projects and media; nothing above."""
