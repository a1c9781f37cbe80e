# Install cer-desktop into .venv from the lock (scripts\install.ps1) and start the desktop app,
# on Windows. With no camera the app starts on the built-in demo source.
#   powershell -ExecutionPolicy Bypass -File scripts\run.ps1 [APP ARGS...]
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)
if (Get-Command py -ErrorAction SilentlyContinue) {
    & py -3.11 scripts\install.py .venv all --run @args
} else {
    & python scripts\install.py .venv all --run @args
}
exit $LASTEXITCODE
