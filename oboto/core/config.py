"""Settings: environment wins over `.oboto/config.toml`, which wins over `~/.config/oboto/config.toml`."""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from oboto.core import safe_open
from oboto.core.durations import MAX_LOOP_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from oboto.core.locks import locked
from oboto.core.names import NAME_PATTERN, NAME_RULE
from oboto.core.paths import WorkspacePaths, user_config_dir
from oboto.core.quarantine import DamagedState, describe_unusable, move_aside
from oboto.core.permissions import DEFAULT_MODE, Mode, PermissionPolicy, RuleError, parse_rules

MAX_TOKENS = 1_000_000_000
MAX_BYTES = 1 << 40


class Section(BaseModel):
    """A table of config.toml: no value may be inf or nan (TOML can write both), and each number has a range."""

    model_config = ConfigDict(allow_inf_nan=False)


class LLMSettings(Section):
    timeout_seconds: float = Field(120.0, gt=0, le=3600,
                                   description="Longest wait for the model to start or continue a reply.")
    max_retries: int = Field(4, ge=0, le=20, description="Retries of transient errors (429, 5xx, timeouts, resets).")
    backoff_initial_seconds: float = Field(1.0, ge=0, le=600, description="First retry delay; doubles each time.")
    backoff_max_seconds: float = Field(30.0, ge=0, le=3600, description="Cap on a single retry delay.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature; provider default when unset.")
    max_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS, description="Cap on tokens in one model reply.")
    context_tokens: int | None = Field(
        None, ge=1024, le=MAX_TOKENS, description="The model's context window in tokens; when unset, litellm's "
                                                  "figure for the model, or 16384 for a model litellm does not know.")
    model_path: str | None = Field(
        None, min_length=1, description="A GGUF model file run in-process, as if `model` were local/<model_path> "
                                        "(relative paths are inside the workspace); used when `model` is unset.")
    local_server_model: str | None = Field(
        None, min_length=1, description="The model to use on a local server found by local discovery (e.g. "
                                        "llama3.2 on Ollama); the server's first model when unset.")


class AgentSettings(Section):
    max_iterations: int = Field(25, ge=1, le=500, description="Model calls allowed in one foreground turn.")
    token_budget: int = Field(400_000, ge=1000, le=MAX_TOKENS,
                              description="Tokens (prompt + completion) one turn may spend.")
    repeat_limit: int = Field(3, ge=2, le=20, description="Identical consecutive tool calls that stop a looping agent.")
    busy_wait_seconds: float = Field(
        300.0, ge=0, le=86_400,
        description="How long a turn waits while another turn runs in the same conversation (0: not at all).")
    persona: str = Field(
        "You are oboto, a careful software agent working inside the person's project folder.",
        description="Who the agents are; shared by every agent in the workspace.",
    )
    instructions_max_chars: int = Field(
        20_000, ge=0, le=500_000,
        description="Most characters of AGENTS.md (or CLAUDE.md) and ~/.config/oboto/AGENTS.md put into every "
                    "agent's system prompt; the rest is cut with a note. 0 leaves them out.")


class TaskSettings(Section):
    max_concurrent: int = Field(3, ge=1, le=64, description="Background tasks running at once; the rest queue (FIFO).")
    timeout_seconds: float = Field(900.0, gt=0, le=7 * 86400, description="Wall-clock limit of one background task.")
    max_iterations: int = Field(30, ge=1, le=500, description="Model calls allowed in one background task.")
    token_budget: int = Field(400_000, ge=1000, le=MAX_TOKENS, description="Tokens one background task may spend.")
    max_depth: int = Field(2, ge=0, le=5, description="How deep tasks may spawn tasks.")
    retention_days: float = Field(
        30.0, gt=0, le=36_500,
        description="Finished tasks older than this leave the live set for the monthly archive in .oboto/tasks/archive/ "
                    "(`tasks status` and `tasks output` still find them; `tasks list --all` lists them).")


def _no_limit_or_at_least(minimum: int) -> AfterValidator:
    """0 turns a resource limit off; any other value must be at least `minimum`."""

    def check(value: int) -> int:
        if 0 < value < minimum:
            raise ValueError(f"must be 0 (no limit) or at least {minimum}")
        return value

    return AfterValidator(check)


class ShellSettings(Section):
    enabled: bool = Field(True, description="Whether the foreground agent may run shell commands.")
    allow_background: bool = Field(False, description="Whether background agents may run shell commands.")
    timeout_seconds: float = Field(120.0, gt=0, le=3600, description="Default limit for one command.")
    max_output_bytes: int = Field(64_000, ge=1000, le=100_000_000,
                                  description="Output kept from one command (head and tail).")
    sandbox: Literal["auto", "required", "off"] = Field(
        "auto", description="auto: Landlock where the kernel has it, else say so and run with the other protections; "
                            "required: refuse to run commands without it; off: no sandbox.")
    network: bool = Field(True, description="Whether the foreground agent's commands may open TCP connections.")
    background_network: bool = Field(False, description="Whether background agents' commands may open TCP connections.")
    writable_paths: list[Annotated[str, Field(min_length=1, pattern=r"^[^\x00]*$")]] = Field(
        default_factory=list,
        description="Paths commands may write besides the workspace and their temporary folder (~ is expanded; "
                    "relative paths are inside the workspace).")
    pass_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list, description="Environment variables passed to commands besides the harmless defaults.")
    memory_limit_mb: Annotated[int, Field(ge=0, le=1_048_576), _no_limit_or_at_least(64)] = Field(
        2048, description="Address space of one command process, in MiB (0: no limit).")
    cpu_limit_seconds: Annotated[int, Field(ge=0, le=604_800), _no_limit_or_at_least(1)] = Field(
        600, description="CPU time of one command process, in seconds (0: no limit).")
    file_size_limit_mb: Annotated[int, Field(ge=0, le=16_777_216), _no_limit_or_at_least(1)] = Field(
        1024, description="Largest file a command may write, in MiB (0: no limit).")
    process_limit: Annotated[int, Field(ge=0, le=1_000_000), _no_limit_or_at_least(16)] = Field(
        512, description="Processes and threads a command may start on top of those its user runs (0: no limit).")


class SecuritySettings(Section):
    redact_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list,
        description="More environment variables whose values are secrets, besides those named like keys, tokens, "
                    "secrets and passwords; their values are replaced by [redacted] in everything tools return.")


class PermissionSettings(Section):
    mode: Mode = Field(DEFAULT_MODE, description="read-only, ask, auto-edit (reads and edits run, commands ask) or full.")
    allow: list[str] = Field(default_factory=list, description='Calls that run without asking, e.g. "run_command(pytest *)".')
    ask: list[str] = Field(default_factory=list, description='Calls that always ask first, e.g. "write_file(*.lock)".')
    deny: list[str] = Field(default_factory=list, description='Calls that are always refused, e.g. "read_file(.env)".')
    background_ask: Literal["question", "deny"] = Field(
        "question", description="What a background agent's ask becomes: a question for the person, or a refusal.")
    profiles_may_loosen: bool = Field(
        False, description="Whether an agent profile's permission_mode may be less strict than `mode` (by default "
                           "the stricter of the two applies, so a profile from a shared repository cannot lift it).")

    @field_validator("mode", mode="before")
    @classmethod
    def _known_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _rules_parse(self) -> "PermissionSettings":
        try:
            parse_rules(self.allow, self.ask, self.deny)
        except RuleError as error:
            raise ValueError(str(error)) from None
        return self

    def policy(self) -> PermissionPolicy:
        return PermissionPolicy(self.mode, parse_rules(self.allow, self.ask, self.deny))


ScheduleNotify = Literal["failures", "always", "never"]


class ScheduleSettings(Section):
    notify: ScheduleNotify = Field(
        "failures", description="Which scheduled runs post a notice into their conversation: failures (runs that did "
                                "not complete), always, or never; every run stays in the schedule's own history.")


class LoopSettings(Section):
    interval_seconds: float = Field(180.0, ge=MIN_INTERVAL_SECONDS, le=MAX_LOOP_INTERVAL_SECONDS,
                                    description="Default time between agent-loop ticks.")
    agent: str | None = Field(None, pattern=NAME_PATTERN.pattern,
                              description="The agent profile the loop runs as (its persona); the default agent when unset.")


class McpServerSettings(Section):
    """One MCP server: a program spoken to over stdio (`command`) or a streamable-HTTP endpoint (`url`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    command: str | None = Field(None, min_length=1, description="The program to start (stdio transport).")
    args: list[str] = Field(default_factory=list, description="Its arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables for it.")
    cwd: str | None = Field(None, description="Its working folder (relative paths are inside the workspace).")
    url: str | None = Field(None, pattern=r"^https?://", description="A streamable-HTTP endpoint, e.g. http://127.0.0.1:8000/mcp.")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers sent with every request to `url`.")
    enabled: bool = Field(True, description="false keeps the server configured but never started.")
    tools: list[str] | None = Field(None, description="Only these of its tools (names or globs); all when unset.")

    @model_validator(mode="after")
    def _one_transport(self) -> "McpServerSettings":
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a program spoken to over stdio) or url (streamable HTTP), not both")
        return self


class McpSettings(Section):
    servers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="The MCP servers whose tools agents get, as [mcp.servers.NAME] tables "
                                          "(each checked on its own, so one bad table leaves the others working).")
    startup_timeout_seconds: float = Field(30.0, gt=0, le=600, description="Longest wait for a server to start.")
    call_timeout_seconds: float = Field(120.0, gt=0, le=3600, description="Longest wait for one MCP tool call.")
    max_result_chars: int = Field(64_000, ge=1000, le=100_000_000,
                                  description="Characters of an MCP tool's result kept (head and tail).")

    def parsed(self) -> tuple[dict[str, McpServerSettings], dict[str, str]]:
        """The usable servers by name, and why each other one cannot be used (in plain words)."""
        servers: dict[str, McpServerSettings] = {}
        problems: dict[str, str] = {}
        for name, table in self.servers.items():
            if not NAME_PATTERN.fullmatch(name) or "__" in name:
                problems[name] = f"the name {name!r} is not allowed: {NAME_RULE}, without '__'"
                continue
            try:
                servers[name] = McpServerSettings.model_validate(table)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                message = first["msg"].removeprefix("Value error, ")
                problems[name] = f"{where}: {message}" if where else message
        return servers, problems


class EventLogSettings(Section):
    max_bytes: int = Field(5_000_000, ge=10_000, le=MAX_BYTES, description="Size at which events.jsonl is rotated.")
    backups: int = Field(3, ge=1, le=50, description="Rotated event logs kept.")


class MemorySettings(Section):
    context_k: int = Field(5, ge=0, le=50, description="Memories offered to the person's own turns; 0 turns this off.")
    context_token_cap: int = Field(600, ge=50, le=20_000, description="Most tokens the memory section of a turn may take.")
    context_min_score: float = Field(
        0.25, ge=-1, le=1, description="Least similarity (cosine) for a memory to be offered to a turn unasked.")
    briefing_k: int = Field(5, ge=0, le=50, description="Memories recalled into the agent loop's briefing.")
    dedup_threshold: float = Field(
        0.95, gt=0, le=1, description="Similarity above which a new memory updates a near-identical one of its kind.")
    embedding_api_base: str | None = Field(None, description="Base URL for `embedding_model`, when it needs one.")
    episode_retention_days: float = Field(
        90.0, gt=0, le=36_500,
        description="Episodes (what finished tasks did) not updated for this long are deleted; facts and procedures "
                    "are never deleted automatically.")


class CheckpointSettings(Section):
    enabled: bool = Field(True, description="Checkpoint the workspace's files around every turn, task and shell command.")
    max_file_bytes: int = Field(
        5_000_000, ge=1, le=MAX_BYTES,
        description="Files larger than this are left out of checkpoints (and listed as skipped).")
    retention_days: float = Field(30.0, gt=0, le=36_500, description="Checkpoints older than this are pruned.")


_toml_files: ContextVar[tuple[Path, ...]] = ContextVar("oboto_toml_files", default=())


class _TomlSource(PydanticBaseSettingsSource):
    """One already-validated TOML document as a settings source."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.data


class Settings(BaseSettings):
    """Everything configurable; every field can be set as `OBOTO_<FIELD>` (nested: `OBOTO_TASKS__MAX_CONCURRENT`)."""

    model_config = SettingsConfigDict(env_prefix="OBOTO_", env_nested_delimiter="__", extra="ignore")

    model: str | None = Field(None, description="Any litellm model string, e.g. openai/gpt-4o-mini.")
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible or self-hosted endpoint.")
    embedding_model: str | None = Field(None, description="A litellm embedding model; local embeddings when unset.")
    local_fallback: bool = Field(
        True, description="Use the embedded local model (the `local` extra) when no model and no provider key is set.")
    local_discovery: bool = Field(
        True, description="With no model and no provider key, look for a local OpenAI-compatible server on 127.0.0.1 "
                          "(Ollama 11434, LM Studio 1234, llama.cpp 8080) before falling back to the embedded model.")
    llm: LLMSettings = Field(default_factory=LLMSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    shell: ShellSettings = Field(default_factory=ShellSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    schedules: ScheduleSettings = Field(default_factory=ScheduleSettings)
    permissions: PermissionSettings = Field(default_factory=PermissionSettings)
    events: EventLogSettings = Field(default_factory=EventLogSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [_TomlSource(settings_cls, data) for data in _toml_files.get()]
        return (init_settings, env_settings, *files)


class ConfigProblem(Exception):
    """A settings file or variable that cannot be used, with a message for the person."""


def _read_text(path: Path, *, in_state_folder: bool) -> str:
    """The file's text; in `.oboto/` never through a link (the person's own config may well be a dotfile link)."""
    if in_state_folder:
        return safe_open.read_bytes(path).decode("utf-8")
    return path.read_text(encoding="utf-8")


def read_toml_settings(path: Path, *, in_state_folder: bool = False) -> tuple[dict[str, Any], str | None]:
    """The settings in one TOML file, or ({}, what is wrong with it) when it cannot be used."""
    try:
        data = tomllib.loads(_read_text(path, in_state_folder=in_state_folder))
    except FileNotFoundError:
        return {}, None
    except OSError as error:
        return {}, f"{path} {describe_unusable(error)}"
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        return {}, f"{path} is not valid TOML ({error})"
    try:
        token = _toml_files.set(())
        try:
            Settings.model_validate(data)
        finally:
            _toml_files.reset(token)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["loc"] and first["loc"][0] == "permissions":
            # Ignoring the file would drop its deny rules: agents must never run with less control than written.
            raise ConfigProblem(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None
        return {}, f"{path}: {where}: {first['msg']}"
    return data, None


def _workspace_config(path: Path, *, quarantine: bool) -> tuple[dict[str, Any], str | None]:
    """The workspace's settings; a bad file is moved aside (decided again under its lock, so a file just fixed
    by the person stays), unless `quarantine` is off (the doctor only looks)."""
    data, problem = read_toml_settings(path, in_state_folder=True)
    if problem is None or not quarantine:
        return data, problem and f"{problem}; it was ignored"
    with locked(path):
        data, problem = read_toml_settings(path, in_state_folder=True)
        if problem is None:
            return data, None
        try:
            moved = move_aside(path, problem)
        except FileNotFoundError:
            return {}, None
        except DamagedState as error:
            return {}, f"{error}; it was ignored"
    return {}, f"{problem}; it was moved to {moved.moved_to} (fix it and move it back)"


def load_settings(paths: WorkspacePaths | None, *, quarantine: bool = True,
                  **overrides: Any) -> tuple[Settings, list[str]]:
    """Settings for a workspace plus warnings about files that were ignored or moved aside.

    Raises ConfigProblem for bad environment variables and bad permission rules.
    """
    documents: list[dict[str, Any]] = []
    warnings: list[str] = []
    sources = [_workspace_config(paths.config, quarantine=quarantine)] if paths else []
    user_data, user_problem = read_toml_settings(user_config_dir() / "config.toml")
    sources.append((user_data, user_problem and f"{user_problem}; it was ignored"))
    for data, problem in sources:
        if problem:
            warnings.append(problem)
        elif data:
            documents.append(data)
    token = _toml_files.set(tuple(documents))
    try:
        return Settings(**overrides), warnings
    except ValidationError as error:
        first = error.errors()[0]
        where = "__".join(str(part) for part in first["loc"]).upper()
        raise ConfigProblem(f"OBOTO_{where}: {first['msg']}") from None
    finally:
        _toml_files.reset(token)
