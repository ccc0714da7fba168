"""`driverkit start --name N [machine options]`, `driverkit sessions`, `driverkit stop N`:
machines that outlive one command (see driverkit.session)."""

from __future__ import annotations

import argparse
import time

from .common import add_json, add_machine_options, emit, spec_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("start", help="start a machine that outlives the command (a session)",
                       description="Start a session: a supervisor process owns the machine "
                       "until `driverkit stop NAME`; machine commands reach it with --session "
                       "NAME or DRIVERKIT_SESSION=NAME.")
    p.add_argument("--name", required=True, help="the session's name")
    add_machine_options(p)
    add_json(p)
    p.set_defaults(func=run_start)
    p = sub.add_parser("sessions", help="list sessions and their state")
    add_json(p)
    p.set_defaults(func=run_sessions)
    p = sub.add_parser("stop", help="stop a session: machine, supervisor and files all go")
    p.add_argument("name", help="the session's name")
    add_json(p)
    p.set_defaults(func=run_stop)


def _describe(spec: dict | None) -> str:
    if not spec:
        return "?"
    devs = ",".join(spec.get("devices") or []) or "-"
    return f"{spec['arch']} {spec['machine']} {spec['memory'] >> 20}M devices {devs}"


def run_start(args: argparse.Namespace) -> int:
    from ..session import start

    st = start(args.name, spec_from_args(args))
    emit(args, st, f"session {args.name} started: {_describe(st['spec'])} "
         f"(supervisor pid {st['pid']}, QEMU pid {st['qemu_pid']})\n"
         f"use: driverkit <command> --session {args.name}   or   "
         f"export DRIVERKIT_SESSION={args.name}")
    return 0


def run_sessions(args: argparse.Namespace) -> int:
    from ..session import list_sessions

    rows = list_sessions()
    lines = [f"{'NAME':<16} {'STATE':<11} {'PID':>7}  {'AGE':>6}  MACHINE / DETAIL"]
    now = time.time()
    for r in rows:
        age = f"{int(now - r['started'])}s" if r.get("started") else "-"
        detail = _describe(r.get("spec"))
        if r["state"] != "running":
            detail += f"  ({r['detail']})"
        lines.append(f"{r['name']:<16} {r['state']:<11} {r.get('pid') or '-':>7}  {age:>6}  "
                     f"{detail}")
    if not rows:
        lines = ["no sessions"]
    emit(args, {"sessions": rows}, "\n".join(lines))
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from ..session import stop

    res = stop(args.name)
    emit(args, res, f"session {args.name} {res['stopped']}")
    return 0
