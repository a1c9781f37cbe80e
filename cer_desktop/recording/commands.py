"""Registers `cer annotate`, `cer recover` and `cer report`."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cer_desktop.recording import annotate, annotate_cli

    p = sub.add_parser(
        "annotate",
        help="annotate videos, images and folders headless (every frame; resumable)",
        description=f"{annotate.__doc__}\n{annotate_cli.__doc__}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    annotate_cli.add_arguments(p)
    p.set_defaults(func=annotate_cli.run)

    p = sub.add_parser(
        "recover",
        help="repair sessions a crash left unfinished (video and CSV made to agree)",
    )
    p.add_argument(
        "folders", nargs="+", metavar="FOLDER", help="session folders or a record folder"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="re-check sessions marked complete too, and recover a session FOLDER whose"
        " recorder still looks alive (its process here, or its lease renewed by another host)",
    )
    p.set_defaults(func=_recover)

    p = sub.add_parser(
        "report",
        help="timeline PNG and summary table of a recorded session; one merged summary of many",
    )
    p.add_argument(
        "session",
        nargs="+",
        metavar="SESSION",
        help="a session folder; several (or folders of sessions) give one merged summary",
    )
    p.add_argument(
        "-o",
        "--out",
        default=None,
        help="output folder (default SESSION/report; merged: ./cer-report)",
    )
    p.add_argument("--max-faces", type=int, default=6, help="faces drawn (the table has all)")
    p.set_defaults(func=_report)


def _recover(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cer_desktop.recording.manifest import MANIFEST_FILE
    from cer_desktop.recording.recover import RecoveryError, recover_session, scan_unfinished

    failed = 0
    for name in args.folders:
        folder = Path(name)
        # A record folder (sessions inside) or one session folder.
        live: list[tuple[Path, str]] = []
        if (folder / MANIFEST_FILE).exists():
            targets = [folder]
        else:
            targets, live = scan_unfinished(folder)
        for session, why in live:
            print(
                f"{session}: left alone, still being recorded: {why}"
                f" (`cer recover --force {session}` overrides)"
            )
        if not targets and not live:
            print(f"{folder}: no unfinished session found")
        for target in targets:
            try:
                print(recover_session(target, force=args.force).summary())
            except RecoveryError as exc:
                print(f"cer recover: {exc}", file=sys.stderr)
                failed += 1
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                print(f"cer recover: {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cer_desktop.recording.manifest import MANIFEST_FILE
    from cer_desktop.recording.report import ReportError, make_report

    if len(args.session) > 1 or not (Path(args.session[0]) / MANIFEST_FILE).exists():
        return _merged_report(args)
    try:
        report = make_report(args.session[0], args.out, max_faces=args.max_faces)
    except ReportError as exc:
        print(f"cer report: {exc}", file=sys.stderr)
        return 2
    print(report.table)
    print(f"\ntimeline: {report.png}\nsummary: {report.csv}, {report.markdown}")
    return 0


def _merged_report(args: argparse.Namespace) -> int:
    from cer_desktop.recording.merged_report import merge_reports

    merged = merge_reports(args.session, args.out or "cer-report")
    for problem in merged.failed:
        print(f"cer report: {problem}", file=sys.stderr)
    if merged.sessions == 0:
        return 2
    print(merged.table)
    print(f"\n{merged.sessions} sessions; summary: {merged.csv}, {merged.markdown}")
    return 1 if merged.failed else 0
