"""`oboto agents list | show NAME | status [--json]`: the agent profiles and how their runs went."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import EXIT_OK, UsageError, add_json_flag, open_runtime, print_json, warn

HELP = "list and show the agent profiles, and how each one's runs went"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="agents_action", metavar="ACTION", required=True)
    add_json_flag(actions.add_parser("list", help="every profile: name, description, where it comes from"))
    show = actions.add_parser("show", help="one profile in full, with its prompt")
    show.add_argument("name", metavar="NAME")
    add_json_flag(show)
    add_json_flag(actions.add_parser("status", help="per profile: runs, failures, last run, tokens and cost"))


def run(args: Namespace) -> int:
    runtime = open_runtime(args)
    catalog = runtime.profiles.catalog()
    for problem in catalog.problems:
        warn(f"agent profile skipped: {problem}")
    action = args.agents_action
    if action == "list":
        profiles = sorted(catalog.profiles.values(), key=lambda profile: profile.name)
        if args.json:
            print_json([_listed(profile) for profile in profiles])
        for profile in profiles if not args.json else []:
            print(f"{profile.name:<16} {profile.description}  [{profile.source}]")
    elif action == "show":
        from oboto.agent.profiles import ProfileError

        try:
            profile = catalog.get(args.name)
        except ProfileError as error:
            raise UsageError(str(error)) from None
        if args.json:
            print_json({**profile.summary(), "shadows": catalog.shadowed.get(profile.name, [])})
        else:
            print(_details(profile, catalog.shadowed.get(profile.name, [])))
    else:
        _status(runtime, catalog, args.json)
    return EXIT_OK


def _listed(profile) -> dict:
    return {"name": profile.name, "description": profile.description, "source": profile.source,
            "model": profile.model, "tools": list(profile.tools) if profile.tools is not None else None,
            "permission_mode": profile.permission_mode}


def _details(profile, shadows: list[str]) -> str:
    def shown(value, default: str) -> str:
        return default if value is None else str(value)

    lines = [
        f"{profile.name}: {profile.description}",
        f"source:          {profile.source}" + (f" (over {', '.join(shadows)})" if shadows else ""),
        f"model:           {shown(profile.model, 'the workspace model')}",
        f"tools:           {', '.join(profile.tools) if profile.tools is not None else 'all'}",
        f"permission mode: {shown(profile.permission_mode, 'the workspace mode')}",
        f"max iterations:  {shown(profile.max_iterations, 'the workspace limit')}",
        f"token budget:    {shown(profile.token_budget, 'the workspace limit')}",
        f"timeout:         {shown(profile.timeout_seconds, 'the workspace limit')}" +
        ("s" if profile.timeout_seconds is not None else ""),
        f"max concurrent:  {shown(profile.max_concurrent, 'no limit of its own')}",
        "",
        profile.prompt,
    ]
    return "\n".join(lines)


def _status(runtime, catalog, as_json: bool) -> None:
    """The design's get_agent_status: every profile (and any profile that has since gone) with its runs."""
    stats = runtime.agent_stats.all()
    names = sorted(set(catalog.profiles) | set(stats))
    rows = []
    for name in names:
        stat = stats.get(name)
        document = stat.model_dump(mode="json") if stat else {
            "runs": 0, "failures": 0, "task_runs": 0, "calls": 0, "last_run_at": None, "last_status": None,
            "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        rows.append({"agent": name, "available": name in catalog.profiles, **document})
    if as_json:
        print_json(rows)
        return
    for row in rows:
        last = row["last_run_at"][:19].replace("T", " ") if row["last_run_at"] else "never"
        gone = "" if row["available"] else "  (profile gone)"
        print(f"{row['agent']:<16} runs {row['runs']:>4}  failures {row['failures']:>3}  last {last}"
              f"{' (' + row['last_status'] + ')' if row['last_status'] else ''}  tokens "
              f"{row['prompt_tokens'] + row['completion_tokens']}  cost ${row['cost_usd']:.4f}{gone}")
