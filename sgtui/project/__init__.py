"""sgtui.project layer (see DESIGN.md §1)."""
