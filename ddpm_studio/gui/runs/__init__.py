"""The Runs tab: the runs on disk side by side (table, overlaid curves, config diff)."""

from ddpm_studio.gui.runs.runs_view import RunsView

__all__ = ["RunsView"]
