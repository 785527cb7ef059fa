"""sgtui.features layer (see DESIGN.md §1)."""
