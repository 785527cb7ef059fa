"""sgtui.features: voice and image encoders behind one protocol (docs/architecture.md, "Layers").

Importing this package is cheap: torch and the model libraries load only when an
encoder is built (`registry.create_encoder`) or a project is embedded.
"""

from __future__ import annotations

from typing import Any

from sgtui.features.base import Encoder, l2_normalise
from sgtui.features.registry import DEFAULTS, ENCODERS, create_encoder, parse_spec


def embed_project(project: Any, voice: str | None = DEFAULTS["voice"], image: str | None = DEFAULTS["image"],
                  device: str = "auto", batch: int = 32, progress: Any = None,
                  **model_paths: str | None) -> dict:
    """Embed a project's clips and keyframes; see `sgtui.features.embed.embed_project`."""
    from sgtui.features.embed import embed_project as _embed

    return _embed(project, voice=voice, image=image, device=device, batch=batch,
                  progress=progress, **model_paths)


__all__ = ["DEFAULTS", "ENCODERS", "Encoder", "create_encoder", "embed_project", "l2_normalise",
           "parse_spec"]
