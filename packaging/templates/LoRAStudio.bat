@echo off
rem Fallback launcher: starts LoRA Studio with a console window, so any start-up error stays visible.
rem Normally you double-click LoRAStudio.exe instead.
setlocal
cd /d "%~dp0"
"%~dp0lora-studio.exe" %*
if errorlevel 1 (
  echo.
  echo LoRA Studio stopped with an error ^(exit code %errorlevel%^). The log is in "%~dp0data\logs".
  pause
)
