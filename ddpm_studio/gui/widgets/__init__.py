"""The widgets part of the GUI (docs/architecture.md, "GUI folders")."""
