"""`oboto questions list [--all] | answer ID TEXT`: the blocking questions agents asked the person."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import EXIT_OK, UsageError, add_json_flag, open_runtime, print_json

HELP = "list the agents' blocking questions or answer one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="questions_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the open questions (with --all, answered and withdrawn ones too)")
    listing.add_argument("--all", action="store_true", help="include answered and withdrawn questions")
    add_json_flag(listing)
    answer = actions.add_parser("answer", help="answer an open question; the waiting agent goes on")
    answer.add_argument("question_id", metavar="ID", help="the question's id, like q-1a2b3c4d")
    answer.add_argument("text", nargs="+", metavar="TEXT", help="the answer (several words need no quotes)")
    add_json_flag(answer)


def run(args: Namespace) -> int:
    from oboto.services.questions import QuestionError

    runtime = open_runtime(args)
    broker = runtime.questions
    if args.questions_action == "list":
        questions = broker.list() if args.all else broker.open_questions()
        if args.json:
            print_json([question.model_dump(mode="json") for question in questions])
        elif not questions:
            print("no open questions" if not args.all else "no questions")
        else:
            for question in questions:
                print(_format(question))
        return EXIT_OK
    try:
        question = broker.answer(args.question_id, " ".join(args.text))
    except QuestionError as error:
        raise UsageError(str(error)) from None
    if args.json:
        print_json(question.model_dump(mode="json"))
    else:
        print(f"answered {question.id}")
    return EXIT_OK


def _format(question) -> str:
    asked = question.asked_at.astimezone().strftime("%Y-%m-%d %H:%M")
    who = f" by task {question.asked_by_task}" if question.asked_by_task else ""
    head = f"{question.id} [{question.status}] asked {asked}{who} ({question.origin})"
    body = "\n".join(f"    {line}" for line in question.question.splitlines())
    text = f"{head}\n{body}"
    if question.answer is not None:
        text += f"\n    → {question.answer}"
    return text
