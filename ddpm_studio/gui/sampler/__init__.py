"""The sampler part of the GUI (docs/architecture.md, "GUI folders")."""
