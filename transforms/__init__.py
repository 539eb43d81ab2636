"""Composable Beam transforms of newsflow, one concern per module (see DESIGN.md §2)."""
