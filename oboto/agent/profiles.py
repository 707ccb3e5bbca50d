"""Agent profiles: Markdown files with YAML front matter (as Claude Code's agent files), the body the prompt.

    ---
    name: explore
    description: Finds and reads; changes nothing.
    tools: [read_file, list_files, search_files]     # an allowlist (names or globs); all tools when left out
    permission_mode: read-only
    model: openai/gpt-4o-mini                        # any litellm model string; the workspace's when left out
    max_iterations: 15
    ---
    You are the explore agent ...

Looked up in `.oboto/agents/`, then `~/.config/oboto/agents/`, then the ones oboto ships; the first file of a
name wins. A file that cannot be used is skipped, and every such file is reported together.
"""

from __future__ import annotations

import fnmatch
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from oboto.core.errors import RequestRefused
from oboto.core.markdown_files import MarkdownFileError, folder_signature, read_markdown, split_front_matter
from oboto.core.names import NAME_PATTERN, NAME_RULE, is_valid_name
from oboto.core.permissions import Mode

DEFAULT_AGENT = "general"
SHIPPED_AGENTS_DIR = Path(__file__).with_name("shipped_agents")
MAX_PROFILE_BYTES = 256 * 1024


class ProfileError(RequestRefused, ValueError):
    """An agent profile that does not exist or cannot be used; the message says which and why."""


class AgentProfile(BaseModel):
    """One agent profile: who the agent is (its prompt), what it may use, and its limits."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(pattern=NAME_PATTERN.pattern)
    description: str = Field(min_length=1, max_length=1000)
    model: str | None = Field(None, min_length=1, description="Any litellm model string; the workspace's when unset.")
    tools: tuple[str, ...] | None = Field(None, description="The tools it may use (names or globs); all when unset.")
    permission_mode: Mode | None = Field(None, validation_alias=AliasChoices("permission_mode", "permissionMode"))
    max_iterations: int | None = Field(None, ge=1, le=500)
    token_budget: int | None = Field(None, ge=1000)
    timeout_seconds: float | None = Field(None, gt=0)
    max_concurrent: int | None = Field(None, ge=1, le=64)
    prompt: str = ""
    source: str = "shipped"
    """Where the profile was read from (a path, or `shipped`)."""

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_list(cls, value: object) -> object:
        # Claude Code writes `tools: Read, Grep`; a YAML list works too.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def allows(self, tool: str) -> bool:
        """Whether a tool of this name is on the profile's allowlist (always, without one)."""
        return self.tools is None or any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.tools)

    def summary(self) -> dict[str, Any]:
        """The profile as `oboto agents show --json` prints it."""
        return self.model_dump(mode="json")


def parse_profile(text: str, *, source: str, default_name: str) -> AgentProfile:
    """A profile from the text of one file; ProfileError saying what is wrong with it."""
    try:
        front, body = split_front_matter(text, required=True)
    except MarkdownFileError as error:
        raise ProfileError(f"{source}: {error}") from None
    front.setdefault("name", default_name)
    if not isinstance(front["name"], str) or not is_valid_name(front["name"]):
        raise ProfileError(f"{source}: the name {front['name']!r} is not allowed: {NAME_RULE}")
    for reserved in ("prompt", "source"):
        if reserved in front:
            raise ProfileError(f"{source}: {reserved!r} is not a front-matter key (the body below '---' is the prompt)")
    prompt = body.strip()
    if not prompt:
        raise ProfileError(f"{source}: the profile has no prompt (write it below the closing '---')")
    try:
        return AgentProfile.model_validate({**front, "prompt": prompt, "source": source})
    except ValidationError as error:
        problems = []
        for item in error.errors()[:3]:
            where = ".".join(str(part) for part in item["loc"]) or "front matter"
            problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise ProfileError(f"{source}: {'; '.join(problems)}") from None


@dataclass
class ProfileCatalog:
    """The profiles that loaded (each name once, the first folder winning) and what went wrong with the rest."""

    profiles: dict[str, AgentProfile] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    shadowed: dict[str, list[str]] = field(default_factory=dict)
    """For each name, the files it also appears in that lost to the first one."""

    def get(self, name: str | None) -> AgentProfile:
        """The profile called `name` (the default agent for None), or ProfileError naming the ones there are."""
        wanted = DEFAULT_AGENT if name is None else name
        if not isinstance(wanted, str) or not is_valid_name(wanted):
            raise ProfileError(f"invalid agent name {wanted!r}: {NAME_RULE}")
        profile = self.profiles.get(wanted)
        if profile is None:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ProfileError(f"no agent profile called {wanted!r}; the agents are: {known} (see `oboto agents list`)")
        return profile

    def check(self, name: str | None) -> str | None:
        """`name` once it is known to be a profile (None stays None: the default)."""
        return None if name is None else self.get(name).name


def load_profiles(folders: list[Path]) -> ProfileCatalog:
    """Every `*.md` profile in `folders`, in order of precedence; a missing folder is simply empty."""
    catalog = ProfileCatalog()
    for folder in folders:
        try:
            files = sorted(folder.glob("*.md"))  # a folder or a link named *.md is reported by _read, not skipped
        except OSError:
            continue
        for path in files:
            source = "shipped" if folder == SHIPPED_AGENTS_DIR else str(path)
            try:
                profile = parse_profile(_read(path), source=source, default_name=path.stem)
            except ProfileError as error:
                catalog.problems.append(str(error) if source != "shipped" else f"shipped {path.name}: {error}")
                continue
            if profile.name in catalog.profiles:
                catalog.shadowed.setdefault(profile.name, []).append(source)
                continue
            catalog.profiles[profile.name] = profile
    return catalog


def _read(path: Path) -> str:
    try:
        return read_markdown(path, MAX_PROFILE_BYTES)
    except MarkdownFileError as error:
        raise ProfileError(str(error)) from None


class ProfileLibrary:
    """The profiles of one workspace, re-read whenever a profile file changes (cheap to ask every turn)."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = [*folders, SHIPPED_AGENTS_DIR]
        self._signature: tuple[Any, ...] | None = None
        self._catalog = ProfileCatalog()
        self._held = 0

    @contextmanager
    def held(self) -> Iterator[ProfileCatalog]:
        """The catalog, not checked against the files again until the block ends (many spawns at one instant)."""
        catalog = self.catalog()
        self._held += 1
        try:
            yield catalog
        finally:
            self._held -= 1

    def catalog(self) -> ProfileCatalog:
        if self._held:
            return self._catalog
        signature = tuple(folder_signature(folder) for folder in self.folders)
        if signature != self._signature:
            self._catalog, self._signature = load_profiles(self.folders), signature
        return self._catalog

    def get(self, name: str | None) -> AgentProfile:
        return self.catalog().get(name)
