"""sgtui: group the spoken lines of an episode by speaker and correct the groups in a TUI."""

__version__ = "0.1.0"
