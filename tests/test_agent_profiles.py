"""Agent profiles: Markdown with YAML front matter, looked up in .oboto/agents/, ~/.config/oboto/agents/, then the
shipped ones; bad files are reported together and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from oboto.agent.profiles import SHIPPED_AGENTS_DIR, ProfileError, ProfileLibrary, load_profiles, parse_profile
from oboto.core.paths import user_agents_dir


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


GOOD = """---
name: tester
description: Runs the tests and reports.
model: openai/gpt-4o-mini
tools: read_file, run_command
permission_mode: ask
max_iterations: 7
token_budget: 5000
timeout_seconds: 60
max_concurrent: 1
---
You run the test suite and report what failed.
"""


def test_a_good_profile_has_every_field_and_its_body_is_the_prompt(tmp_path) -> None:
    profile = parse_profile(GOOD, source="x.md", default_name="x")
    assert (profile.name, profile.model, profile.tools, profile.permission_mode) == (
        "tester", "openai/gpt-4o-mini", ("read_file", "run_command"), "ask")
    assert (profile.max_iterations, profile.token_budget, profile.timeout_seconds, profile.max_concurrent) == (
        7, 5000, 60.0, 1)
    assert profile.prompt == "You run the test suite and report what failed."
    assert profile.allows("run_command") and not profile.allows("write_file")


def test_tools_may_be_globs_and_claude_codes_permission_mode_key_is_read() -> None:
    profile = parse_profile("---\ndescription: d\ntools: [read_file, 'mcp__time__*']\npermissionMode: read-only\n---\n"
                            "Prompt.\n", source="y.md", default_name="helper")
    assert profile.name == "helper"  # the file name when the front matter has none
    assert profile.allows("mcp__time__get_current_time") and not profile.allows("mcp__git__git_status")
    assert profile.permission_mode == "read-only"


@pytest.mark.parametrize(("text", "problem"), [
    ("no front matter\n", "starts with a '---' line"),
    ("---\ndescription: d\n", "no closing '---'"),
    ("---\ndescription: [unclosed\n---\nbody\n", "not valid YAML"),
    ("---\n- a list\n---\nbody\n", "must be YAML keys"),
    ("---\nname: Bad Name\ndescription: d\n---\nbody\n", "the name 'Bad Name' is not allowed"),
    ("---\ndescription: d\n---\n\n", "has no prompt"),
    ("---\ndescription: d\ntool: [read_file]\n---\nbody\n", "tool: Extra inputs are not permitted"),
    ("---\ndescription: d\npermission_mode: yolo\n---\nbody\n", "permission_mode"),
    ("---\nname: x\n---\nbody\n", "description: Field required"),
])
def test_a_bad_profile_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ProfileError) as refused:
        parse_profile(text, source="bad.md", default_name="bad")
    assert str(refused.value).startswith("bad.md: ") and problem in str(refused.value)


def test_bad_files_are_reported_together_and_the_good_ones_load(tmp_path) -> None:
    folder = tmp_path / "agents"
    write(folder, "good", GOOD)
    write(folder, "broken", "nothing here\n")
    write(folder, "typo", "---\ndescription: d\nmodle: x\n---\nbody\n")
    (folder / "binary.md").write_bytes(b"\xff\xfe---\n")
    catalog = load_profiles([folder])
    assert set(catalog.profiles) == {"tester"}
    assert len(catalog.problems) == 3
    assert any("broken.md" in problem for problem in catalog.problems)
    assert any("modle" in problem for problem in catalog.problems)
    assert any("not UTF-8" in problem for problem in catalog.problems)


def test_the_workspace_wins_over_the_user_who_wins_over_the_shipped(workspace) -> None:
    write(workspace.agents_dir, "explore", "---\ndescription: the workspace's own explore\n---\nMine.\n")
    write(user_agents_dir(), "explore", "---\ndescription: the person's explore\n---\nTheirs.\n")
    write(user_agents_dir(), "reviewer", "---\ndescription: the person's reviewer\n---\nTheirs.\n")
    library = ProfileLibrary([workspace.agents_dir, user_agents_dir()])
    catalog = library.catalog()
    assert catalog.get("explore").description == "the workspace's own explore"
    assert catalog.get("reviewer").description == "the person's reviewer"
    assert catalog.get("general").source == "shipped"
    assert catalog.shadowed["explore"] == [str(user_agents_dir() / "explore.md"), "shipped"]


def test_the_shipped_profiles_load_and_explore_and_reviewer_only_read() -> None:
    catalog = load_profiles([SHIPPED_AGENTS_DIR])
    assert catalog.problems == [] and {"explore", "general", "reviewer"} <= set(catalog.profiles)
    assert catalog.get(None).name == "general" and catalog.get("general").tools is None
    for name in ("explore", "reviewer"):
        profile = catalog.get(name)
        assert profile.permission_mode == "read-only" and len(profile.prompt) > 300
        assert profile.allows("read_file") and not profile.allows("write_file") and not profile.allows("run_command")


def test_an_unknown_or_invalid_name_is_refused_naming_the_agents_there_are() -> None:
    catalog = load_profiles([SHIPPED_AGENTS_DIR])
    with pytest.raises(ProfileError, match=r"no agent profile called 'nope'; the agents are: explore, general"):
        catalog.get("nope")
    with pytest.raises(ProfileError, match="invalid agent name"):
        catalog.get("../etc")


def test_a_changed_profile_file_is_read_again(workspace) -> None:
    library = ProfileLibrary([workspace.agents_dir])
    path = write(workspace.agents_dir, "helper", "---\ndescription: first\n---\nOne.\n")
    assert library.get("helper").description == "first"
    path.write_text("---\ndescription: second version\n---\nTwo.\n")
    assert library.get("helper").description == "second version"
