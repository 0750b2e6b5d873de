"""The data layer never imports Qt: importing it with PySide6 blocked must work."""

from __future__ import annotations

import subprocess
import sys


def test_data_layer_imports_without_qt() -> None:
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None  # any 'import PySide6' now raises ImportError\n"
        "import ddpm_studio.data as d\n"
        "ds = d.load_dataset(d.DataConfig(source='builtin:glyphs?n=2', image_size=8))\n"
        "assert len(ds) == 2\n"
        "assert not any(m.startswith(('PySide6', 'PyQt')) for m in sys.modules if sys.modules[m] is not None)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
