# Install cer-desktop on Windows from its lock, without bash: scripts\install.py does the work
# (the lock locks\py311-windows-x86_64-<kind>.txt, the venv, the hash-checked packages, the
# face landmarker model), exactly as scripts/install.sh on Linux and macOS.
#   powershell -ExecutionPolicy Bypass -File scripts\install.ps1 [VENV] [all|core]
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)
# the Python launcher picks 3.11 when several Pythons are installed
if (Get-Command py -ErrorAction SilentlyContinue) {
    & py -3.11 scripts\install.py @args
} else {
    & python scripts\install.py @args
}
exit $LASTEXITCODE
