"""The packaging files are valid and point at files that exist; the self-test's checks behave.

The full PyInstaller freeze is not part of the suite (packaging/build_linux.sh does it); these tests
check what can break silently: the spec, the desktop entry, the AppStream metainfo, the icons, the
Windows and macOS installer files, and `ddpm-studio --self-test`.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import plistlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from PIL import Image

import ddpm_studio
from ddpm_studio import selftest

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "ddpm-studio.spec"
APP_ID = "io.github.ddpmstudio.DDPMStudio"
DESKTOP = PACKAGING / "linux" / f"{APP_ID}.desktop"
METAINFO = PACKAGING / "linux" / f"{APP_ID}.metainfo.xml"
ICONS = REPO / "resources" / "icons"
HICOLOR_SIZES = (16, 32, 48, 64, 128, 256, 512)


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def spec_constant(name: str) -> object:
    """The literal value of a top-level `NAME = <literal>` in the spec."""
    for node in spec_tree().body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"the spec defines no {name}")


# --- the PyInstaller spec ------------------------------------------------------------------------

def test_spec_parses_and_its_paths_exist():
    tree = spec_tree()
    namespace = {"SPEC_DIR": PACKAGING, "REPO": REPO, "Path": Path}
    checked = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp)):
            continue
        roots = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        if roots and roots <= {"SPEC_DIR", "REPO"}:
            path = eval(compile(ast.Expression(node.value), str(SPEC), "eval"), namespace)  # paths only
            assert path.exists(), f"the spec's {ast.unparse(node.targets[0])} = {path} does not exist"
            checked.append(path)
    names = {p.name for p in checked}
    assert {"launcher.py", "resources", "ddpm-studio.ico", "ddpm-studio.icns", "Info.plist"} <= names


def test_spec_builds_one_folder_app_with_resources_and_without_other_bindings():
    source = SPEC.read_text(encoding="utf-8")
    assert spec_constant("APP_NAME") == "ddpm-studio"
    excluded = spec_constant("EXCLUDED_MODULES")
    assert {"PyQt5", "PyQt6", "PySide2", "tkinter"} <= set(excluded)
    assert not any(m in excluded for m in ("PySide6", "PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets",
                                           "torch", "numpy", "sympy"))  # needed at run time
    calls = {n.func.id for n in ast.walk(spec_tree()) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls  # COLLECT: a one-folder build
    assert '(str(RESOURCES), "resources")' in source  # paths.resources_dir() looks in _MEIPASS/resources
    patterns = spec_constant("EXCLUDED_FILES")
    assert "torch/test/*" in patterns and "torch/include/*" in patterns


def test_launcher_calls_the_package_entry_point():
    from ddpm_studio.__main__ import main

    text = (PACKAGING / "launcher.py").read_text(encoding="utf-8")
    assert "from ddpm_studio.__main__ import main" in text
    assert "freeze_support()" in (REPO / "ddpm_studio" / "__main__.py").read_text(encoding="utf-8")
    assert callable(main)


# --- Linux: desktop entry, metainfo, AppImage recipe, build script --------------------------------

def read_desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_entry_has_required_keys_and_bare_exec_and_icon():
    entry = read_desktop_entry(DESKTOP)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "DDPM Studio"
    assert entry["Exec"] == "ddpm-studio"  # bare name: found on PATH, works for tarball, AppImage and distro
    assert entry["Icon"] == "ddpm-studio"  # bare name: looked up in the hicolor theme
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";") and entry["Keywords"].endswith(";")
    assert (ICONS / "hicolor" / "256x256" / "apps" / f"{entry['Icon']}.png").is_file()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_passes_desktop_file_validate():
    result = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower()


def test_metainfo_is_wellformed_with_required_appstream_tags():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    for tag in ("id", "name", "summary", "description", "metadata_license", "project_license", "launchable",
                "content_rating", "releases"):
        assert root.find(tag) is not None, f"metainfo lacks <{tag}>"
    assert root.findtext("id") == APP_ID == METAINFO.name.removesuffix(".metainfo.xml")
    assert root.find("launchable").get("type") == "desktop-id"
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("provides/binary") == "ddpm-studio"
    assert root.find("releases/release").get("version") == ddpm_studio.__version__
    assert len(root.findtext("summary")) < 80 and root.find("description/p") is not None


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_metainfo_passes_appstreamcli_validate():
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_appimage_recipe_and_build_script():
    apprun = PACKAGING / "linux" / "AppRun"
    assert os.access(apprun, os.X_OK)
    assert '"$HERE/usr/lib/ddpm-studio/ddpm-studio" "$@"' in apprun.read_text(encoding="utf-8")
    script = PACKAGING / "build_linux.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text(encoding="utf-8")
    assert "packaging/ddpm-studio.spec" in text and "--self-test" in text and "appimagetool" in text
    for rel in re.findall(r"(packaging/linux/[\w.]+|packaging/[\w.-]+\.(?:spec|py))", text):
        assert (REPO / rel).exists(), f"build_linux.sh refers to missing {rel}"
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)


# --- icons ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", HICOLOR_SIZES)
def test_hicolor_icon_has_its_size(size):
    with Image.open(ICONS / "hicolor" / f"{size}x{size}" / "apps" / "ddpm-studio.png") as img:
        assert img.format == "PNG" and img.size == (size, size) and img.mode == "RGBA"
        assert img.getextrema()[3] == (0, 255)  # transparent corners, opaque tile


def test_window_icon_and_svg_match_the_generator(monkeypatch):
    with Image.open(ICONS / "ddpm-studio.png") as img:
        assert img.size == (256, 256)
    spec = importlib.util.spec_from_file_location("make_icons", PACKAGING / "make_icons.py")
    make_icons = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_icons", make_icons)  # dataclasses look their module up
    spec.loader.exec_module(make_icons)
    svg = (ICONS / "ddpm-studio.svg").read_text(encoding="utf-8")
    assert svg == make_icons.render_svg(), "resources/icons is stale: run packaging/make_icons.py"
    root = ET.fromstring(svg)
    assert root.get("viewBox") == "0 0 512 512"
    small = make_icons.render_png(16, supersample=1)
    assert small.size == (16, 16) and small.mode == "RGBA"


# --- Windows and macOS -----------------------------------------------------------------------------

def test_inno_setup_script_refers_to_existing_files_and_the_bundle():
    iss = PACKAGING / "windows" / "ddpm-studio.iss"
    text = iss.read_text(encoding="utf-8")
    setup_icon = re.search(r"^SetupIconFile=(.+)$", text, re.MULTILINE).group(1).strip()
    assert (iss.parent / setup_icon).is_file()
    with Image.open(iss.parent / setup_icon) as ico:
        assert ico.format == "ICO" and (256, 256) in ico.info["sizes"]
    bundle = re.search(r'#define BundleDir "(.+)"', text).group(1).replace("\\", "/")
    assert (iss.parent / bundle).resolve() == PACKAGING / "dist" / spec_constant("APP_NAME")  # spec's output
    assert re.search(r'#define AppExe "(.+)"', text).group(1) == f"{spec_constant('APP_NAME')}.exe"
    assert re.search(r"^AppId=\{\{[0-9A-F-]{36}\}$", text, re.MULTILINE)


def test_macos_info_plist_is_consistent():
    plist_path = PACKAGING / "macos" / "Info.plist"
    with plist_path.open("rb") as fh:
        info = plistlib.load(fh)
    assert info["CFBundleExecutable"] == spec_constant("APP_NAME")
    assert (plist_path.parent / info["CFBundleIconFile"]).is_file()
    assert info["CFBundleIdentifier"] == APP_ID
    assert info["CFBundleShortVersionString"] == ddpm_studio.__version__
    assert info["CFBundlePackageType"] == "APPL" and info["NSHighResolutionCapable"] is True
    assert os.access(PACKAGING / "macos" / "build_app.sh", os.X_OK)


def test_readme_documents_each_platform():
    text = (PACKAGING / "README.md").read_text(encoding="utf-8")
    for needle in ("build_linux.sh", "appimagetool", "ddpm-studio.iss", "build_app.sh", "--self-test"):
        assert needle in text


# --- the self-test ---------------------------------------------------------------------------------

def make_ctx(tmp_path: Path, sample: torch.Tensor | None = None) -> selftest.Context:
    ctx = selftest.Context(steps=2, seed=0, checkpoint=None, workdir=tmp_path)
    ctx.sample = sample
    return ctx


def test_check_image_accepts_a_varied_image_in_range(tmp_path):
    x = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)
    assert "std" in selftest.check_image(make_ctx(tmp_path, x))


@pytest.mark.parametrize("bad, reason", [
    (torch.full((1, 3, 8, 8), float("nan")), "non-finite"),
    (torch.full((1, 3, 8, 8), 0.25), "constant"),
    (torch.linspace(-3, 3, 192).reshape(1, 3, 8, 8), "outside [-1, 1]"),
])
def test_check_image_rejects_broken_samples(tmp_path, bad, reason):
    with pytest.raises(selftest.SelfTestError, match=re.escape(reason)):
        selftest.check_image(make_ctx(tmp_path, bad))


def test_missing_checkpoint_is_a_one_line_failure(tmp_path):
    ctx = make_ctx(tmp_path)
    ctx.checkpoint = tmp_path / "nowhere"
    lines: list[str] = []
    code = selftest.run_checks(ctx, checks=[("checkpoint", selftest.check_checkpoint)], out=lines.append)
    assert code == 1
    assert lines == [f"FAIL checkpoint  no checkpoint at {tmp_path / 'nowhere'}"]


def test_run_checks_prints_one_line_per_check_and_stops_at_the_first_failure(tmp_path):
    def boom(ctx):
        raise RuntimeError("kaput")

    lines: list[str] = []
    checks = [("first", lambda ctx: "fine"), ("second", boom), ("third", lambda ctx: "never")]
    assert selftest.run_checks(make_ctx(tmp_path), checks=checks, out=lines.append) == 1
    assert lines[0].startswith("ok   first ") and "fine" in lines[0]
    assert lines[1] == "FAIL second  RuntimeError: kaput"
    assert len(lines) == 2


def run_self_test(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m ddpm_studio --self-test ARGS` in a fresh process, as a user (or the frozen app) runs it."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DDPM_STUDIO_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "ddpm_studio", "--self-test", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    names = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert names == [name for name, _ in selftest.CHECKS]
    assert "self-test passed" in result.stdout


def test_self_test_passes_on_a_small_checkpoint(tmp_path):
    from ddpm_studio.data.config import DataConfig
    from ddpm_studio.engine import DiffusionConfig, UNetConfig, build_unet
    from ddpm_studio.training import RunConfig, TrainingConfig, save_checkpoint

    model = UNetConfig(base_channels=8, channel_mults=(1, 2), linear_attention=False, attention_heads=1,
                       attention_head_dim=8, norm_groups=4)
    config = RunConfig(model=model, diffusion=DiffusionConfig(timesteps=50), data=DataConfig(image_size=8),
                       training=TrainingConfig())
    torch.manual_seed(0)
    state = build_unet(model).state_dict()  # untrained weights still give a finite, varied image
    save_checkpoint(tmp_path / "run" / "model.safetensors", config=config, step=0, model_state=state,
                    ema_state={k: v.clone() for k, v in state.items()})
    assert_passed(run_self_test(tmp_path / "home", "--steps", "3", "--checkpoint", str(tmp_path / "run")))


@pytest.mark.skipif(not (REPO / "resources" / "demo").is_dir(), reason="the demo checkpoint is not shipped yet")
def test_self_test_passes_on_the_shipped_demo_checkpoint(tmp_path):
    assert_passed(run_self_test(tmp_path, "--steps", "3"))


def test_self_test_rejects_bad_options(tmp_path):
    result = run_self_test(tmp_path, "--steps", "0")
    assert result.returncode == 2 and "--steps must be at least 1" in result.stderr


# --- the wheel's package list --------------------------------------------------------------------

def test_every_subpackage_is_listed_for_the_wheel():
    """pyproject names its packages explicitly: a new subpackage left out installs in editable mode only."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {"ddpm_studio." + ".".join(p.parent.relative_to(REPO / "ddpm_studio").parts)
               for p in (REPO / "ddpm_studio").rglob("__init__.py")}
    on_disk = {name.rstrip(".") for name in on_disk}
    assert on_disk - listed == set()


# --- the self-test loads the platform a real launch would use (issue 22 N1) -------------------------

def test_self_test_keeps_the_display_platform_when_a_display_is_set(monkeypatch, tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux's displays")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    selftest._configure_environment(tmp_path)
    assert "QT_QPA_PLATFORM" not in os.environ
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    selftest._configure_environment(tmp_path)
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"


def test_self_test_fails_on_an_xcb_plugin_without_its_libraries(monkeypatch, tmp_path):
    from ddpm_studio import platform_libs

    if not sys.platform.startswith("linux"):
        pytest.skip("Linux's xcb")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    missing = platform_libs.MissingLibraries(Path("libqxcb.so"), ("libxcb-icccm.so.4",))
    monkeypatch.setattr(platform_libs, "missing_libraries", lambda plugin: missing)
    with pytest.raises(selftest.SelfTestError, match="libxcb-icccm.so.4.*sudo apt install libxcb-icccm4"):
        selftest.check_platform(make_ctx(tmp_path))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert "no system libraries" in selftest.check_platform(make_ctx(tmp_path))
