"""The training part of the GUI (docs/architecture.md, "GUI folders")."""
