"""The probe part of the GUI (docs/architecture.md, "GUI folders")."""
