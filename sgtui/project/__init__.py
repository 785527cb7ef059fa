"""The .sgproj project file: schema, migrations, all SQL, the op log (docs/architecture.md, "The project file" and "The op log")."""

from sgtui.project.records import (
    Assignment,
    Clip,
    Cluster,
    HumanConstraints,
    Keyframe,
    Line,
    LineIn,
    OpRow,
    Suggestion,
)
from sgtui.project.store import Project, default_annotator

__all__ = [
    "Assignment", "Clip", "Cluster", "HumanConstraints", "Keyframe", "Line", "LineIn", "OpRow",
    "Project", "Suggestion", "default_annotator",
]
