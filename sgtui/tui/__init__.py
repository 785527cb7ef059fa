"""sgtui.tui layer (see DESIGN.md §1)."""
