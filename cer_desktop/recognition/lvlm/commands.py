"""`cer models`: list local models and adapters; `cer models pull ID`: download one for offline use."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cer_desktop.recognition.lvlm.catalog import recommended

# chosen by rule from the curated list's recorded facts (`catalog.recommended`)
RECOMMENDED_BASE = recommended().model_id


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A model or adapter found on this machine."""

    kind: str  # "model" or "adapter"
    name: str  # hub id or folder name
    path: str
    size_bytes: int
    label_set: str = ""  # adapters with cer_adapter.json
    base_model: str = ""  # adapters


def _folder_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def classify_folder(path: Path, name: str | None = None) -> LocalModel | None:
    """A model (config.json + weights) or a PEFT adapter (adapter_config.json) folder, or None."""
    name = name or path.name
    if (path / "adapter_config.json").is_file():
        from cer_desktop.recognition.lvlm.metadata import MetadataError, read_metadata

        base, label_set = "", ""
        try:
            base = (
                json.loads((path / "adapter_config.json").read_text("utf-8")).get(
                    "base_model_name_or_path", ""
                )
                or ""
            )
        except (OSError, ValueError):
            pass
        try:
            md = read_metadata(path)
            label_set = md.label_set if md else ""
        except MetadataError:
            label_set = "(unreadable cer_adapter.json)"
        return LocalModel("adapter", name, str(path), _folder_size(path), label_set, base)
    if (path / "config.json").is_file() and any(path.glob("*.safetensors")):
        return LocalModel("model", name, str(path), _folder_size(path))
    return None


def scan_folder(root: Path, depth: int = 2) -> list[LocalModel]:
    """Models and adapters in `root` and its sub-folders (up to `depth` levels)."""
    found: list[LocalModel] = []
    if not root.is_dir():
        return found
    item = classify_folder(root)
    if item is not None:
        return [item]
    if depth > 0:
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            found += scan_folder(child, depth - 1)
    return found


def scan_hf_cache() -> list[LocalModel]:
    """Model repositories in the Hugging Face cache (newest snapshot of each)."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # no cache yet, or unreadable: nothing to list
        return []
    found = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        rev = max(repo.revisions, key=lambda r: r.last_modified)
        item = classify_folder(Path(rev.snapshot_path), repo.repo_id)
        if item is not None:
            found.append(
                LocalModel(
                    item.kind,
                    repo.repo_id,
                    item.path,
                    repo.size_on_disk,
                    item.label_set,
                    item.base_model,
                )
            )
    return found


def list_local(folders: list[str] | None = None) -> list[LocalModel]:
    """Everything usable offline: the Hugging Face cache plus the given folders."""
    items = scan_hf_cache()
    for f in folders or []:
        items += scan_folder(Path(f).expanduser())
    return items


class DownloadCancelled(RuntimeError):
    """`pull` was cancelled (files already fetched stay in the cache)."""


def pull(
    model_id: str,
    revision: str | None = None,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Download `model_id` into the Hugging Face cache; returns the folder.

    `progress(fraction, text)` is told after each file (tqdm on the console otherwise);
    setting `cancel` stops the download after the files in progress (`DownloadCancelled`).
    """
    from huggingface_hub import snapshot_download

    if progress is None and cancel is None:
        return str(snapshot_download(repo_id=model_id, revision=revision))
    from tqdm.auto import tqdm

    class Reporting(tqdm):
        # Counts for itself: a disabled bar (HF_HUB_DISABLE_PROGRESS_BARS) does not count.
        done = 0.0

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled(f"download of {model_id} cancelled")
            self.done += n or 0
            shown = super().update(n)
            if progress is not None and self.total:
                text = f"{self.done:.0f} of {self.total} files"
                progress(float(self.done) / float(self.total), text)
            return shown

    return str(snapshot_download(repo_id=model_id, revision=revision, tqdm_class=Reporting))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "models",
        help="list local models and adapters, or download one (`cer models pull ID`)",
        description=(
            "Lists the vision-language models and LoRA adapters available offline (Hugging Face "
            f"cache and --dir folders). `cer models pull ID` downloads one (recommended base: "
            f"{RECOMMENDED_BASE}, about {recommended().disk_gb:.1f} GB)."
        ),
    )
    p.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    p.add_argument("model_id", nargs="?", help="hub id to download (with `pull`)")
    p.add_argument("--revision", default=None, help="branch, tag or commit to download")
    p.add_argument(
        "--dir",
        action="append",
        default=[],
        metavar="FOLDER",
        help="also scan this folder (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)


def _hub_offline() -> bool:
    """huggingface_hub's own reading of HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE."""
    from huggingface_hub import constants

    probe = getattr(constants, "is_offline_mode", None)
    if probe is not None:
        return bool(probe())
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _run(args: argparse.Namespace) -> int:
    if args.action == "pull":
        if not args.model_id:
            print(
                "usage: cer models pull ID   (for example " + RECOMMENDED_BASE + ")",
                file=sys.stderr,
            )
            return 2
        if _hub_offline():
            print(
                "offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE): "
                "set HF_HUB_OFFLINE=0 to download",
                file=sys.stderr,
            )
            return 1
        try:
            path = pull(args.model_id, args.revision)
        except Exception as exc:
            print(f"cannot download {args.model_id!r}: {exc}", file=sys.stderr)
            return 1
        print(f"{args.model_id} is in {path}; use it with --model {args.model_id}")
        return 0
    items = list_local(args.dir)
    if args.json:
        print(json.dumps([asdict(i) for i in items], indent=2))
        return 0
    if not items:
        print(f"no local models or adapters; get one with `cer models pull {RECOMMENDED_BASE}`")
        return 0
    for i in items:
        extra = ""
        if i.kind == "adapter":
            extra = f"  labels={i.label_set or '?'} base={i.base_model or '?'}"
        print(f"{i.kind:8} {i.name:48} {i.size_bytes / 1e9:6.2f} GB  {i.path}{extra}")
    return 0
