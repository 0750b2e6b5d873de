"""The PySide6 + pyqtgraph desktop application: window, views and the Qt workers.

Only this package imports Qt. `ddpm_studio.gui.application.main` is the entry point; it imports torch
before PySide6 (torch >= 2.9 on Windows fails to load its DLLs otherwise). Every use case a view offers
is a call into `ddpm_studio.app`; the views and workers here only read widgets and show results.
"""
