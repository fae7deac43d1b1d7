; LoRA Studio: per-user Windows installer (NSIS 3, MUI2, Unicode).
;
; Packages a folder made by packaging/build_portable.py. Normally the one built with
; --torch-mode external: NSIS cannot hold more than about 2 GB and a CUDA build of PyTorch alone is
; larger, so the installer carries the app and, in the "PyTorch" section, runs get_torch.bat, which
; downloads the pinned official wheel (SHA-256 checked) into torch-runtime\. A wheel placed next to
; the installer .exe is used instead of downloading (offline installs). Given a folder that already
; contains torch, the installer packs it as is and leaves that section out.
;
;   makensis -DSRCDIR=dist\no-torch\LoRAStudio -DVERSION=0.1.0 [-DVARIANT=cu128] [-DOUTFILE=...]
;            [-DVERSION_QUAD=0.1.0.0] installer.nsi
;
; Installs into %LOCALAPPDATA%\Programs\LoRAStudio without admin rights, in portable layout
; (portable.txt, so settings stay in the install folder). The uninstaller keeps models\, projects\,
; outputs\ and data\ unless the user ticks "Also delete my models, projects, outputs and settings".

Unicode true
ManifestDPIAware true
RequestExecutionLevel user
SetCompressor /SOLID lzma
SetCompressorDictSize 64

!ifndef SRCDIR
  !error "Pass the built folder: makensis -DSRCDIR=dist\no-torch\LoRAStudio -DVERSION=x.y.z installer.nsi"
!endif
!ifndef VERSION
  !error "Pass the version: makensis -DVERSION=x.y.z ..."
!endif
!ifndef VARIANT
  !define VARIANT "cu128"
!endif
!ifndef OUTFILE
  !define OUTFILE "LoRAStudio-${VERSION}-${VARIANT}-setup.exe"
!endif
!ifndef VERSION_QUAD
  ; "1.2.3" -> "1.2.3.0" (pass VERSION_QUAD yourself for versions like 1.2.3rc1)
  !searchparse /noerrors "${VERSION}" "" V_MAJOR "." V_MINOR "." V_PATCH
  !ifndef V_PATCH
    !define V_PATCH 0
  !endif
  !define VERSION_QUAD "${V_MAJOR}.${V_MINOR}.${V_PATCH}.0"
!endif
!ifndef APP_EXE
  !define APP_EXE "LoRAStudio.exe"
!endif

!define APP_NAME "LoRA Studio"
!define APP_ID "LoRAStudio"
!define PUBLISHER "LoRA Studio contributors"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"
!define SETTINGS_KEY "Software\${APP_ID}"

; Does the payload already contain torch (a "bundled" build)?
!if /FileExists "${SRCDIR}\_internal\torch\__init__.py"
  !define PAYLOAD_HAS_TORCH
  !echo "Payload contains torch: no PyTorch download section."
!else
  !echo "Payload without torch: the PyTorch section runs get_torch.bat."
!endif

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"

Name "${APP_NAME} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_ID}"
InstallDirRegKey HKCU "${SETTINGS_KEY}" "InstallDir"
BrandingText "${APP_NAME} ${VERSION} (${VARIANT})"

VIProductVersion "${VERSION_QUAD}"
VIFileVersion "${VERSION_QUAD}"
VIAddVersionKey /LANG=1033 "ProductName" "${APP_NAME}"
VIAddVersionKey /LANG=1033 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "FileDescription" "${APP_NAME} installer"
VIAddVersionKey /LANG=1033 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=1033 "LegalCopyright" "MIT License"

!define MUI_ABORTWARNING
; Our icon and pictures (made by resources/sources/make_icons.py; paths are relative to this file).
!define MUI_ICON "resources\icons\lora-studio.ico"
!define MUI_UNICON "resources\icons\lora-studio.ico"
!define MUI_HEADERIMAGE
!define MUI_HEADERIMAGE_RIGHT
!define MUI_HEADERIMAGE_BITMAP "resources\installer\header.bmp"
!define MUI_HEADERIMAGE_UNBITMAP "resources\installer\header.bmp"
!define MUI_WELCOMEFINISHPAGE_BITMAP "resources\installer\welcome.bmp"
!define MUI_UNWELCOMEFINISHPAGE_BITMAP "resources\installer\welcome.bmp"
!define MUI_COMPONENTSPAGE_SMALLDESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"
!define MUI_FINISHPAGE_SHOWREADME "$INSTDIR\README.txt"
!define MUI_FINISHPAGE_SHOWREADME_NOTCHECKED
!define MUI_UNCONFIRMPAGE_TEXT_TOP "Your models, projects, outputs and settings are kept unless you tick the box on the next page."

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${SRCDIR}\LICENSE.txt"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH

!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${APP_NAME} needs 64-bit Windows 10 or newer." /SD IDOK
    Abort
  ${EndIf}
FunctionEnd

Section "${APP_NAME}" SecApp
  SectionIn RO
  SetOutPath "$INSTDIR"
  ; Top-level files (executables, launchers, portable.txt, README, licences), then the runtime and
  ; the empty model/project/output folders. Listed one by one so that a data\ or torch-runtime\
  ; folder left in SRCDIR by a test run is never packed.
  File "${SRCDIR}\*.*"
  File /r "${SRCDIR}\_internal"
  File /r "${SRCDIR}\models"
  File /r "${SRCDIR}\projects"
  File /r "${SRCDIR}\outputs"

  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${APP_NAME}"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\${APP_NAME} (with console).lnk" "$INSTDIR\LoRAStudio.bat"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\Models folder.lnk" "$INSTDIR\models"
  !ifndef PAYLOAD_HAS_TORCH
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\Download PyTorch.lnk" "$INSTDIR\get_torch.bat"
  !endif
  CreateShortcut "$SMPROGRAMS\${APP_NAME}\Uninstall ${APP_NAME}.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKCU "${SETTINGS_KEY}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

!ifndef PAYLOAD_HAS_TORCH
Section "PyTorch with CUDA (downloads about 2.5 GB)" SecTorch
  ; get_torch.bat uses a wheel lying next to the installer when there is one (offline install).
  System::Call 'Kernel32::SetEnvironmentVariable(t "INSTALLER_DIR", t "$EXEDIR") i'
  DetailPrint "Downloading PyTorch (${VARIANT}) in a console window ..."
  ExecWait '"$SYSDIR\cmd.exe" /c ""$INSTDIR\get_torch.bat" /installer"' $0
  ${If} $0 <> 0
    DetailPrint "PyTorch was not installed (get_torch.bat exit code $0)."
    MessageBox MB_ICONEXCLAMATION|MB_OK "PyTorch could not be downloaded or unpacked (see the console window for the reason).$\r$\n$\r$\n${APP_NAME} is installed and starts, but it cannot train or generate until PyTorch is there. Run $\"Download PyTorch$\" from the Start menu (${APP_NAME} folder) when you are online." /SD IDOK
  ${EndIf}
SectionEnd
!endif

Section "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}"
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The app and its Python runtime."
  !ifndef PAYLOAD_HAS_TORCH
  !insertmacro MUI_DESCRIPTION_TEXT ${SecTorch} "The official PyTorch ${VARIANT} build for NVIDIA GPUs, downloaded from download.pytorch.org and checked. Untick it to do this later (Start menu: Download PyTorch)."
  !endif
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "A shortcut on the desktop."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

; ---------------------------------------------------------------------------------------------
; Uninstaller

Section "un.${APP_NAME}" UnSecApp
  SectionIn RO
  ; The runtime and everything the installer or get_torch.bat put there.
  RMDir /r "$INSTDIR\_internal"
  RMDir /r "$INSTDIR\torch-runtime"
  RMDir /r "$INSTDIR\torch-runtime.new"
  RMDir /r "$INSTDIR\torch-download"
  RMDir /r "$INSTDIR\data\cache"
  Delete "$INSTDIR\LoRAStudio.exe"
  Delete "$INSTDIR\lora-studio.exe"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\LoRAStudio.bat"
  Delete "$INSTDIR\get_torch.bat"
  Delete "$INSTDIR\portable.txt"
  Delete "$INSTDIR\README.txt"
  Delete "$INSTDIR\LICENSE.txt"
  Delete "$INSTDIR\THIRD-PARTY-NOTICES.txt"
  ; The placeholder notes; the folders go only when nothing else is in them.
  Delete "$INSTDIR\models\checkpoints\put_checkpoints_here.txt"
  Delete "$INSTDIR\models\loras\put_loras_here.txt"
  Delete "$INSTDIR\models\captioners\put_captioners_here.txt"
  Delete "$INSTDIR\projects\README.txt"
  Delete "$INSTDIR\outputs\README.txt"
  RMDir "$INSTDIR\models\checkpoints"
  RMDir "$INSTDIR\models\loras"
  RMDir "$INSTDIR\models\captioners"
  RMDir "$INSTDIR\models"
  RMDir "$INSTDIR\projects"
  RMDir "$INSTDIR\outputs"

  Delete "$SMPROGRAMS\${APP_NAME}\*.lnk"
  RMDir "$SMPROGRAMS\${APP_NAME}"
  Delete "$DESKTOP\${APP_NAME}.lnk"
  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegKey HKCU "${SETTINGS_KEY}"
SectionEnd

; Unticked by default: user files stay unless asked.
Section /o "un.Also delete my models, projects, outputs and settings" UnSecUserData
  RMDir /r "$INSTDIR\models"
  RMDir /r "$INSTDIR\projects"
  RMDir /r "$INSTDIR\outputs"
  RMDir /r "$INSTDIR\data"
SectionEnd

Section "-un.Finish"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  ${If} ${FileExists} "$INSTDIR\*.*"
    DetailPrint "Kept your files in $INSTDIR"
  ${EndIf}
SectionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecApp} "Removes the program, its runtime and shortcuts."
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecUserData} "Deletes models\, projects\, outputs\ and data\ in the install folder. Leave unticked to keep them for a later install."
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END
