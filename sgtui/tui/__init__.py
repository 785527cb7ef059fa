"""sgtui.tui layer (see docs/architecture.md, "Layers")."""
