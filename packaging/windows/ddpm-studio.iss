; Inno Setup 6 script for the DDPM Studio Windows installer.
;
; First build the one-folder bundle (packaging\dist\ddpm-studio\ with ddpm-studio.exe and
; ddpm-studio-cli.exe), then compile this script; from the repository root:
;
;   pyinstaller --noconfirm --clean --distpath packaging\dist --workpath packaging\build packaging\ddpm-studio.spec
;   packaging\dist\ddpm-studio\ddpm-studio-cli.exe --self-test
;   iscc /DAppVersion=0.1.0 packaging\windows\ddpm-studio.iss
;
; (packaging\windows\build_windows.ps1 runs all three.) The installer is written to
; packaging\dist\ddpm-studio-<version>-windows-x64-setup.exe. It installs per user by default (no
; administrator rights needed); the first page offers an all-users install instead.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "DDPM Studio"
#define AppExe "ddpm-studio.exe"
#define BundleDir "..\dist\ddpm-studio"

[Setup]
AppId={{6B2F3C1E-8D4A-4E5B-9C7F-2A1D0E3B5C84}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=DDPM Studio developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\dist
OutputBaseFilename=ddpm-studio-{#AppVersion}-windows-x64-setup
SetupIconFile=ddpm-studio.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/ultra64
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
ChangesAssociations=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; the whole PyInstaller bundle: both executables and _internal\ (Python, torch, Qt, resources\demo)
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "ddpm-studio.ico"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\ddpm-studio.ico"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\ddpm-studio.ico"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; Runs, checkpoints and settings live in the user's data folder and survive an uninstall on purpose.
