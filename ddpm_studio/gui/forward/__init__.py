"""The forward part of the GUI (docs/architecture.md, "GUI folders")."""
