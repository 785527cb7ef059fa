"""What `sgtui train` produces: the confidence regressor and the merge MLP, as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgtui.engine.confidence import ConfidenceModel
from sgtui.engine.merge_model import MergeMLP


@dataclass(frozen=True)
class EngineModel:
    confidence: ConfidenceModel
    merge: MergeMLP | None = None

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Saved as an .npz by the caller; no pickle, so loading a stranger's file runs no code."""
        out = self.confidence.to_arrays()
        if self.merge is not None:
            out.update(self.merge.to_arrays())
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> EngineModel:
        """ValueError when the arrays are not a model this version wrote."""
        return cls(ConfidenceModel.from_arrays(arrays), MergeMLP.from_arrays(arrays))
