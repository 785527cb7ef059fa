"""sgtui.media layer (see DESIGN.md §1)."""
