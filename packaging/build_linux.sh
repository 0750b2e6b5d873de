#!/usr/bin/env bash
# Build the Linux bundle of DDPM Studio: a PyInstaller one-folder build, its self-test, a tarball,
# and optionally an AppDir for appimagetool.
#
# Usage (from anywhere; paths are relative to the repository root):
#   packaging/build_linux.sh [--python PATH] [--no-self-test] [--no-tarball] [--xz] [--appdir]
#
#   --python PATH    the Python whose environment holds the app's dependencies, CPU torch and
#                    pyinstaller (default: $PYTHON, else ./.venv/bin/python, else python3)
#   --no-self-test   skip running `ddpm-studio --self-test` on the built bundle
#   --no-tarball     skip packaging/dist/ddpm-studio-<version>-linux-<arch>.tar.gz
#   --xz             compress the tarball with xz (smaller, slower) instead of gzip
#   --appdir         also lay out packaging/dist/AppDir; then a maintainer runs
#                      ARCH=x86_64 appimagetool packaging/dist/AppDir packaging/dist/DDPM_Studio-<version>-x86_64.AppImage
#                    (appimagetool: https://github.com/AppImage/appimagetool/releases)
#
# Prerequisites, in a fresh virtual environment:
#   pip install torch --index-url https://download.pytorch.org/whl/cpu   # CPU torch keeps the bundle small
#   pip install -e '.[package]'                                          # the app + pyinstaller
#
# Outputs (both gitignored): packaging/build/ (PyInstaller's work folder), packaging/dist/:
#   ddpm-studio/                 the bundle: run ./ddpm-studio, or ./ddpm-studio --self-test
#   ddpm-studio/share/...        desktop entry, AppStream metainfo and hicolor icons, ready to copy
#                                into ~/.local/share or /usr/share
#   ddpm-studio-<ver>-linux-<arch>.tar.gz   the tarball of that folder
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
APP_ID="io.github.ddpmstudio.DDPMStudio"
PYTHON="${PYTHON:-}"
SELF_TEST=1 TARBALL=1 XZ=0 APPDIR=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --python) PYTHON="$2"; shift 2 ;;
        --no-self-test) SELF_TEST=0; shift ;;
        --no-tarball) TARBALL=0; shift ;;
        --xz) XZ=1; shift ;;
        --appdir) APPDIR=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "build_linux.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
"$PYTHON" -c "import PyInstaller, torch, PySide6" 2>/dev/null \
    || { echo "build_linux.sh: $PYTHON lacks pyinstaller, torch or PySide6 (see --help)" >&2; exit 1; }
VERSION="$("$PYTHON" -c 'import ddpm_studio; print(ddpm_studio.__version__)')"
ARCH="$(uname -m)"
DIST="$REPO/packaging/dist"
BUNDLE="$DIST/ddpm-studio"

step() { printf '\n== %s\n' "$*"; }

if [[ ! -f resources/icons/ddpm-studio.png ]]; then
    step "rendering icons"
    "$PYTHON" packaging/make_icons.py
fi
[[ -d resources/demo ]] || echo "build_linux.sh: WARNING: resources/demo is missing; the self-test will fail" >&2

step "PyInstaller: $PYTHON, version $VERSION"
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$REPO/packaging/build" packaging/ddpm-studio.spec
echo "built $BUNDLE in $(( $(date +%s) - start )) s"

step "desktop integration files"
install_share() {  # $1: the prefix that receives share/...
    install -Dm644 "packaging/linux/$APP_ID.desktop" "$1/share/applications/$APP_ID.desktop"
    install -Dm644 "packaging/linux/$APP_ID.metainfo.xml" "$1/share/metainfo/$APP_ID.metainfo.xml"
    install -Dm644 resources/icons/ddpm-studio.svg "$1/share/icons/hicolor/scalable/apps/ddpm-studio.svg"
    for png in resources/icons/hicolor/*/apps/ddpm-studio.png; do
        size="$(basename "$(dirname "$(dirname "$png")")")"
        install -Dm644 "$png" "$1/share/icons/hicolor/$size/apps/ddpm-studio.png"
    done
}
install_share "$BUNDLE"

if [[ $SELF_TEST == 1 ]]; then
    step "self-test of the frozen bundle"
    TIMEFORMAT="self-test wall time (cold start included): %R s"
    time "$BUNDLE/ddpm-studio" --self-test
fi

step "size"
du -sh "$BUNDLE"
du -sh "$BUNDLE"/_internal/* 2>/dev/null | sort -h | tail -8

if [[ $TARBALL == 1 ]]; then
    step "tarball"
    if [[ $XZ == 1 ]]; then ext=tar.xz; compress=(-I "xz -T0 -6"); else ext=tar.gz; compress=(-z); fi
    tarball="$DIST/ddpm-studio-$VERSION-linux-$ARCH.$ext"
    tar -C "$DIST" "${compress[@]}" -cf "$tarball" ddpm-studio
    ls -lh "$tarball"
fi

if [[ $APPDIR == 1 ]]; then
    step "AppDir"
    appdir="$DIST/AppDir"
    rm -rf "$appdir"
    mkdir -p "$appdir/usr/lib"
    cp -a "$BUNDLE" "$appdir/usr/lib/ddpm-studio"
    rm -rf "$appdir/usr/lib/ddpm-studio/share"
    install_share "$appdir/usr"
    install -Dm755 packaging/linux/AppRun "$appdir/AppRun"
    cp "packaging/linux/$APP_ID.desktop" "$appdir/$APP_ID.desktop"
    cp resources/icons/hicolor/256x256/apps/ddpm-studio.png "$appdir/ddpm-studio.png"
    ln -sf ddpm-studio.png "$appdir/.DirIcon"
    echo "AppDir ready: $appdir"
    echo "next: ARCH=$ARCH appimagetool $appdir $DIST/DDPM_Studio-$VERSION-$ARCH.AppImage"
fi
