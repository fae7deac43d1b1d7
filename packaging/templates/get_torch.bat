@echo off
rem get_torch.bat: put PyTorch (@VARIANT@) into torch-runtime\ beside LoRAStudio.exe.
rem
rem   get_torch.bat                 download the pinned wheel below, check its SHA-256, unpack it
rem   get_torch.bat FILE.whl        unpack a wheel you already have (offline machines)
rem   get_torch.bat URL             download another wheel (e.g. a cu126 build for an older GPU; no hash check)
rem   get_torch.bat /installer      as the first form, called by the installer (no pause at the end)
rem
rem Needs Windows 10 1803 or newer (curl.exe and tar.exe are built in). A wheel placed next to this
rem file or next to the installer is used instead of downloading. The download resumes if interrupted.
setlocal EnableExtensions EnableDelayedExpansion
chcp 65001 >nul
cd /d "%~dp0"

set "WHEEL=@TORCH_WHEEL@"
set "URL=@TORCH_URL@"
set "SHA256=@TORCH_SHA256@"
set "PAUSE_AT_END=1"
set "SRC="

if /i "%~1"=="/installer" (
  set "PAUSE_AT_END=0"
  if not "%~2"=="" set "SRC=%~2"
) else if not "%~1"=="" (
  set "SRC=%~1"
)

if defined SRC (
  if exist "!SRC!" (
    for %%F in ("!SRC!") do set "WHEEL=%%~nxF" & set "LOCAL=%%~fF"
    set "SHA256="
  ) else (
    set "URL=!SRC!"
    for %%F in ("!SRC:/=\!") do set "WHEEL=%%~nxF"
    set "WHEEL=!WHEEL:%%2B=+!"
    set "SHA256="
  )
)
if not defined LOCAL if exist "%~dp0!WHEEL!" set "LOCAL=%~dp0!WHEEL!"
if not defined LOCAL if defined INSTALLER_DIR if exist "%INSTALLER_DIR%\!WHEEL!" set "LOCAL=%INSTALLER_DIR%\!WHEEL!"

echo.
echo  LoRA Studio needs PyTorch to train and to generate images.
echo  Wheel: !WHEEL!
echo.

where curl.exe >nul 2>nul || (set "WHY=curl.exe is missing: Windows 10 version 1803 or newer is needed." & goto :fail)
where tar.exe  >nul 2>nul || (set "WHY=tar.exe is missing: Windows 10 version 1803 or newer is needed." & goto :fail)

set "DL=%~dp0torch-download"
if not exist "%DL%" mkdir "%DL%"
if defined LOCAL (
  echo  Using !LOCAL!
  set "FILE=!LOCAL!"
) else (
  if not defined URL (set "WHY=No download address is set in this file. Pass a wheel file or URL." & goto :fail)
  echo  Downloading about 2.5 GB from download.pytorch.org. This can take a while.
  echo  If it stops, run get_torch.bat again: the download resumes.
  echo.
  set "FILE=%DL%\!WHEEL!"
  curl.exe --fail --location --retry 5 --retry-delay 5 --continue-at - --output "!FILE!.part" "!URL!"
  if errorlevel 1 (
    set "WHY=The download failed. Check the internet connection, proxy or firewall, and run get_torch.bat again."
    goto :fail
  )
  move /y "!FILE!.part" "!FILE!" >nul
)

if defined SHA256 (
  echo  Checking the file ...
  set "GOT="
  for /f "skip=1 delims=" %%H in ('certutil -hashfile "!FILE!" SHA256') do if not defined GOT set "GOT=%%H"
  set "GOT=!GOT: =!"
  if /i not "!GOT!"=="!SHA256!" (
    del /q "!FILE!" >nul 2>nul
    set "WHY=The downloaded file is damaged: SHA-256 mismatch. It was deleted, run get_torch.bat again."
    goto :fail
  )
)

echo  Unpacking ...
set "NEW=%~dp0torch-runtime.new"
if exist "%NEW%" rmdir /s /q "%NEW%"
mkdir "%NEW%"
tar.exe -xf "!FILE!" -C "%NEW%"
if errorlevel 1 (set "WHY=Unpacking failed. Is the disk full? About 6 GB of free space is needed." & goto :fail)
if not exist "%NEW%\torch\__init__.py" (set "WHY=That file is not a PyTorch wheel." & goto :fail)
if exist "%~dp0torch-runtime" rmdir /s /q "%~dp0torch-runtime"
move /y "%NEW%" "%~dp0torch-runtime" >nul || (set "WHY=Could not replace torch-runtime. Close LoRA Studio and try again." & goto :fail)
if not defined LOCAL del /q "!FILE!" >nul 2>nul
rmdir "%DL%" >nul 2>nul

echo.
echo  PyTorch is ready. Start LoRA Studio with LoRAStudio.exe.
if "%PAUSE_AT_END%"=="1" pause
exit /b 0

:fail
echo.
echo  ERROR: !WHY!
echo  LoRA Studio still starts, but cannot train or generate until PyTorch is installed.
echo  Run get_torch.bat in "%~dp0" again later (Start menu: LoRA Studio ^> Download PyTorch).
if "%PAUSE_AT_END%"=="1" pause
exit /b 1
