"""bench/web.py's table: each page's req/s, latency and CPU per request in each profile, and
each figure against its target (bench/verdict.py)."""

from __future__ import annotations

import os

from verdict import Verdicts

TARGETS = {  # (req/s at least, p95 ms at most) per profile and kind of page
    ("warm", "list"): (200.0, 100.0),
    ("warm", "dashboard"): (100.0, None),
    ("cold", "list"): (150.0, None),
    ("cold", "dashboard"): (80.0, None),
}
MIXED_SHARE = 80.0  # % of the warm req/s, every page


def report(args, pages, figures, writes, sizes, people) -> Verdicts:
    size = (
        f"users={args.users} departments={args.departments} keys={args.keys} days={args.days}; "
        f"gunicorn --workers {args.workers}, {args.clients} clients, {args.seconds:.0f} s a "
        f"page; pages read by {people['developer']} developers, {people['lead']} leads, "
        f"{people['infra']} infra people in turn"
    )
    verdicts = Verdicts(full=not args.small, size=size)
    print()
    print(f"department of the first lead and developer: {sizes[1]} ({sizes[0]} members)")
    if writes:
        per_second = {op: n / writes["seconds"] for op, n in writes["counts"].items()}
        print(
            "mixed: writes a second "
            + ", ".join(
                f"{op} {rate:.2f} (median {writes['median_ms'][op]:.0f} ms)"
                for op, rate in per_second.items()
            )  # fmt: skip
            + f"; {writes['skipped']} skipped (nothing to decide)"
        )
    print(
        f"{'profile':7} {'role':10} {'page':22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'CPU ms':>7} {'DB ms':>6} {'served/s':>8}"
    )
    for profile, measured in figures.items():
        for (role, label, kind, _visits), m in zip(pages, measured, strict=True):
            print(
                f"{profile:7} {role:10} {label:22} {m['rps']:8.1f} {m['p50']:8.1f} "
                f"{m['p95']:8.1f} {m['cpu_ms']:7.1f} {m['db_ms']:6.1f} {m['served']:8.1f}"
                + (f" errors {m['bad']}" if m["bad"] else "")
            )
            name = f"{profile}: {role} {label}"
            if profile == "mixed":
                warm = figures["warm"][pages.index((role, label, kind, _visits))]
                verdicts.add(f"{name}, req/s", m["rps"], unit="req/s")
                verdicts.add(
                    f"{name}, % of warm", 100 * m["rps"] / warm["rps"], MIXED_SHARE,
                    higher=True, unit="%",
                )  # fmt: skip
                continue
            rps_min, p95_max = TARGETS[(profile, kind)]
            verdicts.add(f"{name}, req/s", m["rps"], rps_min, higher=True, unit="req/s")
            verdicts.add(f"{name}, p95", m["p95"], p95_max)
    print(
        "CPU ms: gunicorn's CPU time per request; DB ms: PostgreSQL's (its backends for "
        "gunicorn);\nserved/s: what gunicorn answered in the window, with the requests wrk "
        "left in flight (req/s counts\nonly the answers wrk read in time: 0 when every answer "
        "takes longer than the window).\nWith the machine to itself, "
        f"{os.cpu_count()} cores serve at most {os.cpu_count()} × 1000 / (CPU ms + DB ms) "
        "requests a second."
    )
    return verdicts
