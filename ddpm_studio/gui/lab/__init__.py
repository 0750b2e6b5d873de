"""The 2-D lab tab: point sets, a point denoiser trained live, the forward process, the field and samplers side by
side (issue 26). The use case is ``app.lab``; this package only draws it and runs its calls on a worker."""

from ddpm_studio.gui.lab.lab_view import LabView

__all__ = ["LabView"]
