"""`oboto memory add|search|list|delete`: the workspace's shared memory from the command line."""

from __future__ import annotations

import argparse
from argparse import Namespace
from typing import Any, Callable

from oboto.commands.common import (
    EXIT_OK,
    UsageError,
    WorkFailed,
    add_json_flag,
    open_runtime,
    positive_int,
    print_json,
    warn,
)
from oboto.core.memory_rules import MAX_RECALL, MEMORY_KINDS

HELP = "add, search, list or delete workspace memories"


def _recall_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_RECALL:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_RECALL}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="memory_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="store a memory (a near-identical one is updated instead)")
    add.add_argument("text", metavar="TEXT")
    add.add_argument("--kind", choices=MEMORY_KINDS, default="note", help="what sort of memory (default: note)")
    add.add_argument("--tag", action="append", default=[], metavar="T", help="a label; repeat for more")
    add_json_flag(add)
    search = actions.add_parser("search", help="the memories most similar to a query, best first")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=_recall_count, default=5, metavar="N", help=f"how many (1-{MAX_RECALL}, default 5)")
    search.add_argument("--kind", choices=MEMORY_KINDS, help="only memories of this kind")
    add_json_flag(search)
    listing = actions.add_parser("list", help="memories, most recently stored first")
    listing.add_argument("--kind", choices=MEMORY_KINDS, help="only memories of this kind")
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N (default 50)")
    add_json_flag(listing)
    delete = actions.add_parser("delete", help="delete a memory by id")
    delete.add_argument("memory_id", metavar="ID")
    add_json_flag(delete)


def _guard(action: Callable[[], Any]) -> Any:
    """Bad input and unknown ids exit 2; a store or embedding model that fails exits 1."""
    from oboto.services.memory_models import MemoryInputError, MemoryUnavailable

    try:
        return action()
    except MemoryInputError as error:
        raise UsageError(str(error)) from None
    except MemoryUnavailable as error:
        raise WorkFailed(str(error)) from None


def run(args: Namespace) -> int:
    from oboto.core.events import MemoryReembedded

    runtime = open_runtime(args)
    runtime.bus.subscribe(
        lambda event: warn(f"the memory store was made with {event.previous}; its {event.count} memories were "
                           f"embedded again with {event.embedder}"),
        MemoryReembedded,
    )
    memory = runtime.memory
    action = args.memory_action
    if action == "add":
        record = _guard(lambda: memory.remember(args.text, kind=args.kind, tags=args.tag, source="cli"))
        updated = record.times > 1
        if args.json:
            print_json({**record.to_json(), "updated": updated})
        else:
            print(f"{'updated the near-identical memory' if updated else 'remembered'} {record.id} ({record.kind})")
    elif action == "search":
        found = _guard(lambda: memory.recall(args.query, k=args.k, kind=args.kind))
        if args.json:
            print_json([item.to_json() for item in found])
        elif not found:
            print("no memories found")
        else:
            for item in found:
                print(f"{item.score:.2f}  {item.record.line()}")
    elif action == "list":
        records = _guard(lambda: memory.list(kind=args.kind, limit=args.limit))
        if args.json:
            print_json([record.to_json() for record in records])
        elif not records:
            print("no memories yet" if args.kind is None else f"no {args.kind} memories yet")
        else:
            for record in records:
                print(record.line())
    elif action == "delete":
        record = _guard(lambda: memory.forget(args.memory_id))
        if args.json:
            print_json(record.to_json())
        else:
            print(f"deleted {record.id}")
    return EXIT_OK
