"""Chinese script of recognised (and exported) text: simplified or traditional, by OpenCC.

Whisper writes much Mandarin in traditional characters (日本IDC統計顯示), where the
people who use this tool (Chat-Haruhi, mainland fan subtitles) expect simplified. So
`ingest --asr` converts Mandarin (`zh`) to simplified by default and keeps Cantonese
(`yue`), written in traditional characters, as it is; `--zh-script hans|hant|keep` chooses.
`export --zh-script` converts any project's text the same way. OpenCC (the field's
converter; it converts by phrase, not only character by character) is imported on first
use.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sgtui.errors import SgtuiError

SCRIPTS = ("hans", "hant", "keep")
_CONFIG = {"hans": "t2s", "hant": "s2t"}  # OpenCC's Traditional->Simplified, and back


def default_script(language: str | None) -> str:
    """What `--zh-script` means when not given: simplified for Mandarin, else as written."""
    return "hans" if (language or "").split("-")[0].lower() == "zh" else "keep"


@cache
def _converter(script: str) -> Any:
    try:
        import opencc
    except ImportError as exc:
        raise SgtuiError("--zh-script needs OpenCC; install it with pip install opencc "
                         "(a dependency of sgtui, see pyproject.toml)") from exc
    return opencc.OpenCC(_CONFIG[script])


def convert(texts: Sequence[str], script: str) -> list[str]:
    """Each text in `script` ('hans' simplified, 'hant' traditional, 'keep' unchanged)."""
    if script not in SCRIPTS:
        raise SgtuiError(f"unknown Chinese script {script!r}; use one of {', '.join(SCRIPTS)}")
    if script == "keep":
        return list(texts)
    cc = _converter(script)
    return [cc.convert(t) if t else t for t in texts]
