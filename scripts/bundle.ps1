# Build the Windows app folder dist\cer-desktop\ (a windowed cer-desktop.exe with its icon) with
# PyInstaller from packaging\cer-desktop.spec, then run the frozen --smoke test: the Windows twin
# of scripts/bundle.sh. The venv .venv-core is installed from the core lock (which holds
# PyInstaller) by scripts\install.py.
#   powershell -ExecutionPolicy Bypass -File scripts\bundle.ps1
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
Set-Location $root
if (Get-Command py -ErrorAction SilentlyContinue) {
    & py -3.11 scripts\install.py .venv-core core
} else {
    & python scripts\install.py .venv-core core
}
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Remove-Item -Recurse -Force dist\cer-desktop -ErrorAction SilentlyContinue
& .venv-core\Scripts\python.exe -m PyInstaller --noconfirm --clean --log-level WARN `
    --distpath dist --workpath build\pyinstaller packaging\cer-desktop.spec
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

# The smoke test from another folder, with an empty cache, without PYTHONPATH: only what the
# bundle holds may be used. A windowed exe has no console: PowerShell would not wait for it nor
# see its output, so it is started with -Wait and writes its JSON line to a file.
$work = Join-Path ([System.IO.Path]::GetTempPath()) ("cer-smoke-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path $work | Out-Null
$env:CER_SMOKE_JSON = Join-Path $work "smoke.json"
$env:XDG_CACHE_HOME = Join-Path $work "cache"
Remove-Item Env:PYTHONPATH -ErrorAction SilentlyContinue
$proc = Start-Process -FilePath (Join-Path $root "dist\cer-desktop\cer-desktop.exe") `
    -ArgumentList "--smoke" -WorkingDirectory $work -Wait -PassThru
if (Test-Path $env:CER_SMOKE_JSON) { Get-Content $env:CER_SMOKE_JSON }
Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
if ($proc.ExitCode -ne 0) {
    Write-Error "the frozen smoke test failed (exit $($proc.ExitCode))"
    exit 1
}
