#!/usr/bin/env bash
# Build "DDPM Studio.app" (and optionally a .dmg) on macOS. Run on a Mac, from anywhere:
#
#   packaging/macos/build_app.sh [--python PATH] [--dmg] [--sign IDENTITY]
#
#   --python PATH     Python with the app's dependencies and pyinstaller (default: $PYTHON, .venv, python3)
#   --dmg             also make packaging/dist/DDPM-Studio-<version>-macos-<arch>.dmg (hdiutil)
#   --sign IDENTITY   codesign with this Developer ID (default "-": ad-hoc, runs on the building Mac;
#                     distribution needs a Developer ID plus `xcrun notarytool submit ... --wait`)
#
# The .app layout (PyInstaller's BUNDLE step in packaging/ddpm-studio.spec makes it; this script
# installs our Info.plist and checks the result):
#   DDPM Studio.app/Contents/Info.plist              packaging/macos/Info.plist, versioned
#   DDPM Studio.app/Contents/MacOS/ddpm-studio       the executable (CFBundleExecutable)
#   DDPM Studio.app/Contents/Frameworks/             Python, torch, Qt libraries
#   DDPM Studio.app/Contents/Resources/ddpm-studio.icns, resources/ (icons, demo checkpoint)
# On macOS torch's wheels from PyPI are CPU (+MPS) builds already: `pip install torch` is fine.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-}" DMG=0 IDENTITY="-"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --python) PYTHON="$2"; shift 2 ;;
        --dmg) DMG=1; shift ;;
        --sign) IDENTITY="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build_app.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ "$(uname -s)" == Darwin ]] || { echo "build_app.sh: run this on macOS (Linux: packaging/build_linux.sh)" >&2; exit 1; }
if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
VERSION="$("$PYTHON" -c 'import ddpm_studio; print(ddpm_studio.__version__)')"
DIST="$REPO/packaging/dist"
APP="$DIST/DDPM Studio.app"

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$REPO/packaging/build" packaging/ddpm-studio.spec

# Our Info.plist, with the package version, replaces the generated one.
"$PYTHON" - "$REPO/packaging/macos/Info.plist" "$APP/Contents/Info.plist" "$VERSION" <<'PY'
import plistlib, sys
src, dst, version = sys.argv[1:]
with open(src, "rb") as fh:
    info = plistlib.load(fh)
info["CFBundleShortVersionString"] = info["CFBundleVersion"] = version
with open(dst, "wb") as fh:
    plistlib.dump(info, fh)
PY
plutil -lint "$APP/Contents/Info.plist"

for path in "Contents/MacOS/ddpm-studio" "Contents/Resources/ddpm-studio.icns" "Contents/Info.plist"; do
    [[ -e "$APP/$path" ]] || { echo "build_app.sh: the bundle lacks $path" >&2; exit 1; }
done

codesign --force --deep --options runtime --sign "$IDENTITY" "$APP"
codesign --verify --verbose=2 "$APP"

"$APP/Contents/MacOS/ddpm-studio" --self-test
du -sh "$APP"

if [[ $DMG == 1 ]]; then
    dmg="$DIST/DDPM-Studio-$VERSION-macos-$(uname -m).dmg"
    rm -f "$dmg"
    staging="$(mktemp -d)"
    cp -R "$APP" "$staging/"
    ln -s /Applications "$staging/Applications"
    hdiutil create -volname "DDPM Studio" -srcfolder "$staging" -ov -format UDZO "$dmg"
    rm -rf "$staging"
    ls -lh "$dmg"
fi
