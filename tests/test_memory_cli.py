"""`oboto memory add|search|list|delete`, and several processes sharing one memory store."""

from __future__ import annotations

import json
import threading

import pytest

from cli_helpers import oboto, oboto_process
from oboto.cli import build_parser
from oboto.core.memory_rules import MEMORY_KINDS
from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime


def test_the_command_offers_exactly_the_store_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    parsed = [parser.parse_args(["memory", "add", "x", "--kind", kind]).kind for kind in MEMORY_KINDS]
    assert parsed == [*MEMORY_KINDS]
    with pytest.raises(SystemExit):
        parser.parse_args(["memory", "add", "x", "--kind", "fancy"])
    refusal = capsys.readouterr().err
    assert "invalid choice: 'fancy'" in refusal and all(f"'{kind}'" in refusal for kind in MEMORY_KINDS)


def test_add_search_list_delete_round_trip(workspace: WorkspacePaths, llm_env) -> None:
    root = workspace.root
    added = oboto(root, "memory", "add", "The staging database password rotates every Monday.", "--kind", "fact",
                  "--tag", "ops", "--tag", "db", "--json")
    assert added.returncode == 0, added.stderr
    record = json.loads(added.stdout)
    assert record["kind"] == "fact" and record["tags"] == ["ops", "db"] and record["source"] == "cli"
    assert record["updated"] is False
    again = oboto(root, "memory", "add", "the staging database password rotates every monday", "--kind", "fact")
    assert again.returncode == 0 and again.stdout.strip() == f"updated the near-identical memory {record['id']} (fact)"
    Runtime.open(root).memory.remember("Deploy with scripts/deploy.sh.", kind="procedure")

    search = oboto(root, "memory", "search", "when does the database password change", "-k", "2", "--json")
    found = json.loads(search.stdout)
    assert search.returncode == 0 and len(found) == 2
    assert found[0]["id"] == record["id"] and found[0]["times"] == 2 and found[0]["score"] > found[1]["score"]
    listed = json.loads(oboto(root, "memory", "list", "--kind", "fact", "--json").stdout)
    assert [item["id"] for item in listed] == [record["id"]]

    deleted = oboto(root, "memory", "delete", record["id"])
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted {record['id']}"
    gone = oboto(root, "memory", "delete", record["id"])
    assert gone.returncode == 2 and gone.stderr.strip() == f"oboto: no memory with id {record['id']}"


@pytest.mark.parametrize(("arguments", "reason"), [
    (["add", "   "], "the text is empty"),
    (["add", "ok", "--tag", "a,b"], "contains a comma"),
    (["add", "ok", "--kind", "secret"], "invalid choice: 'secret'"),
    (["search", "x", "-k", "0"], "must be 1 or more"),
    (["search", "x", "-k", "51"], "is more than 50"),
    (["list", "--limit", "zero"], "is not a whole number"),
    (["delete", "m-1"], "'m-1' is not a memory id"),
])
def test_bad_input_exits_2_with_one_line(workspace: WorkspacePaths, arguments: list[str], reason: str) -> None:
    result = oboto(workspace.root, "memory", *arguments)
    assert result.returncode == 2 and reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_corrupt_store_is_reported_on_stderr_and_replaced(workspace: WorkspacePaths) -> None:
    assert oboto(workspace.root, "memory", "add", "Kept somewhere safe.").returncode == 0
    (workspace.memory_dir / "chroma.sqlite3").write_bytes(b"garbage" * 500)
    result = oboto(workspace.root, "memory", "list")
    assert result.returncode == 0 and result.stdout.strip() == "no memories yet"
    assert "could not be read (the memory store could not be opened" in result.stderr
    assert "it was moved to" in result.stderr and "memory.corrupt-" in result.stderr
    assert len(list(workspace.state_dir.glob("memory.corrupt-*"))) == 1


def test_writes_from_other_processes_are_seen_and_none_are_lost(workspace: WorkspacePaths, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    memory = runtime.memory
    memory.remember("The first memory, stored by this process.", kind="note")
    assert memory.recall("first memory", k=5)[0].record.text == "The first memory, stored by this process."

    outside = ["Another process noted that the kettle is broken.",
               "A second process learned the printer needs toner.",
               "A third process found the garden hose leaks."]
    processes = [oboto_process(workspace.root, "memory", "add", text) for text in outside]
    inside = [f"Thread {index} here: the {animal} escaped the zoo." for index, animal in
              enumerate(["lion", "zebra", "penguin", "otter"])]
    threads = [threading.Thread(target=memory.remember, args=(text,)) for text in inside]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        _out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err

    assert memory.count() == 1 + len(outside) + len(inside)
    assert memory.recall("is the printer out of toner", k=1)[0].record.text == outside[1], \
        "a running store sees what another process wrote"
    listed = Runtime.open(workspace.root).memory.list()
    assert {record.text for record in listed} == {"The first memory, stored by this process.", *outside, *inside}
