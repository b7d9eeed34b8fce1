"""``pgan doctor``: one screen saying whether this machine is ready (device, versions, data, checkpoints, caches, mode)."""
from __future__ import annotations

import argparse
import json

from .. import doctor
from .common import json_ready, write_json


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine: device and memory, versions, data, checkpoints, caches, mode")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                   help="the report as JSON: on stdout (--json alone) or into PATH")
    p.set_defaults(func=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    """Exit 0 when every check is OK or WARN, 1 when one FAILs (its fix is printed under it)."""
    checks = doctor.run_checks()
    if args.json == "-":
        print(json.dumps(json_ready(doctor.as_json(checks)), indent=2))
    else:
        print(doctor.report(checks))
        if args.json:
            write_json(args.json, doctor.as_json(checks))
    return doctor.exit_code(checks)
