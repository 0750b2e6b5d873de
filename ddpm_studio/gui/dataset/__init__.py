"""The dataset part of the GUI (docs/architecture.md, "GUI folders")."""
