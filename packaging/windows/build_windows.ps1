# Build the DDPM Studio Windows installer. Run in PowerShell from the repository root, in a virtual
# environment holding the app, CPU torch and pyinstaller:
#
#   py -3.11 -m venv .venv; .venv\Scripts\Activate.ps1
#   pip install torch --index-url https://download.pytorch.org/whl/cpu
#   pip install -e ".[package]"
#   packaging\windows\build_windows.ps1            # needs Inno Setup 6 (iscc.exe) on PATH or in Program Files
#
# Output: packaging\dist\ddpm-studio\ (the bundle) and packaging\dist\ddpm-studio-<version>-windows-x64-setup.exe
$ErrorActionPreference = "Stop"
$Repo = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Repo

$Version = (python -c "import ddpm_studio; print(ddpm_studio.__version__)").Trim()
python -m PyInstaller --noconfirm --clean --log-level WARN `
    --distpath packaging\dist --workpath packaging\build packaging\ddpm-studio.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# the console twin shows the self-test's lines; the windowed ddpm-studio.exe has no console
& packaging\dist\ddpm-studio\ddpm-studio-cli.exe --self-test
if ($LASTEXITCODE -ne 0) { throw "the bundle's self-test failed" }

$Iscc = Get-Command iscc.exe -ErrorAction SilentlyContinue
if ($Iscc) { $Iscc = $Iscc.Source } else { $Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
if (-not (Test-Path $Iscc)) { throw "Inno Setup 6 not found: install it from https://jrsoftware.org/isinfo.php" }
& $Iscc "/DAppVersion=$Version" packaging\windows\ddpm-studio.iss
if ($LASTEXITCODE -ne 0) { throw "iscc failed" }
Get-ChildItem packaging\dist\*.exe | Format-Table Name, Length
