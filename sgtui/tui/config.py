"""The annotator's settings: $XDG_CONFIG_HOME/sgtui/config.toml (else ~/.config/sgtui/).

```toml
annotator = "alice"     # the name written in the op log (--as overrides it)
audio = "auto"          # auto | local | browser | none
image = "auto"          # auto | sixel | tgp | halfcell | unicode
[keys]                  # binding id = "key[,key...]"; `?` in the app lists every id
merge = "M,ctrl+m"
```
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sgtui.errors import SgtuiError

IMAGE_MODES = ("auto", "sixel", "tgp", "halfcell", "unicode")


@dataclass(frozen=True)
class Config:
    annotator: str | None = None
    audio: str = "auto"
    image: str = "auto"
    keys: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sgtui" / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults, a broken one a clear error."""
    path = path or config_path()
    if not path.exists():
        return Config(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SgtuiError(f"{path} is not valid TOML ({exc}); fix or delete it") from None
    keys = data.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise SgtuiError(f"{path}: [keys] must map binding ids to key strings like \"M,ctrl+m\"")
    audio = data.get("audio", "auto")
    image = data.get("image", "auto")
    if image not in IMAGE_MODES:
        raise SgtuiError(f"{path}: image = {image!r}; use one of {', '.join(IMAGE_MODES)}")
    annotator = data.get("annotator")
    if annotator is not None and not isinstance(annotator, str):
        raise SgtuiError(f"{path}: annotator must be a string")
    return Config(annotator=annotator, audio=str(audio), image=image, keys=dict(keys), path=path)
