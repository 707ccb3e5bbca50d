"""`oboto doctor`: checks the model, keys, workspace files and the runner lock, and says what to fix."""

from __future__ import annotations

import argparse
import os
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from oboto.commands.common import EXIT_FAILED, EXIT_OK, UsageError, add_json_flag, print_json, workspace_paths

HELP = "check the model, keys, workspace files, lock, agent profiles, MCP servers and how commands are contained"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False

    def to_json(self) -> dict:
        return {"check": self.name, "ok": self.ok, "warning": self.warning, "detail": self.detail}


def _document_check(label: str, path: Path, model: type) -> Check:
    """Validate a workspace file without moving it (doctor only looks)."""
    import orjson
    from pydantic import ValidationError

    from oboto.core import safe_open
    from oboto.core.quarantine import describe_unusable
    from oboto.core.store import describe_error

    later = "(oboto will move it aside on next use)"
    try:
        model.model_validate(orjson.loads(safe_open.read_bytes(path)))
    except FileNotFoundError:
        return Check(label, True, f"{path.name} not created yet")
    except OSError as error:
        return Check(label, False, f"{path} {describe_unusable(error)} {later}")
    except (orjson.JSONDecodeError, ValidationError, ValueError) as error:
        return Check(label, False, f"{path} is invalid: {describe_error(error)} {later}")
    return Check(label, True, f"{path.name} is valid")


def gather(args: Namespace) -> list[Check]:
    from oboto.core.config import ConfigProblem, load_settings
    from oboto.core.locks import ProcessLock
    from oboto.core.paths import user_config_dir
    from oboto.llm.resolve import LOCAL_EXTRA_HINT, configured_choice, resolve_model, settle_choice
    from oboto.services.conversation_models import ConversationIndex

    checks = [Check("python", sys.version_info >= (3, 11), sys.version.split()[0])]
    try:
        paths = workspace_paths(args)
    except UsageError as problem:
        return checks + [Check("workspace", False, str(problem))]
    writable = os.access(paths.state_dir if paths.state_dir.exists() else paths.root, os.W_OK)
    checks.append(Check("workspace", writable, f"{paths.root}" + ("" if writable else " is not writable")))
    try:
        settings, warnings = load_settings(paths, quarantine=False)
    except ConfigProblem as problem:
        return checks + [Check("settings", False, str(problem))]
    sources = [str(path) for path in (paths.config, user_config_dir() / "config.toml") if path.exists()]
    checks.append(Check("settings", not warnings, "; ".join(warnings) or ("from " + ", ".join(sources) if sources else "defaults and environment")))
    checks.append(_permissions_check(settings.permissions))
    choice = settle_choice(resolve_model(settings, os.environ), settings)
    if choice.is_local:
        checks.append(_local_model_check(choice.model or "", choice.reason, paths.root))
    elif choice.discovered:
        checks.append(Check("model", True, f"{choice.model} at {choice.api_base} ({choice.reason})"))
    elif choice.model:
        detail = choice.model + (f" at {settings.api_base}" if settings.api_base else "") + f" ({choice.reason})"
        checks.append(Check("model", True, detail))
        checks.append(_key_check(choice.model, settings.api_base))
    else:
        checks.append(Check("model", False, f"no model configured ({choice.reason}): set OBOTO_MODEL, e.g. "
                                            "openai/gpt-4o-mini, or a provider key, start a local server, or "
                                            f"{LOCAL_EXTRA_HINT}"))
    if choice.probed:
        checks.append(Check("local servers", True, choice.probed))
    elif configured_choice(settings, os.environ) is None:
        checks.append(Check("local servers", True, "not looked for (local_discovery = false)"))
    checks.append(_document_check("conversations", paths.conversation_index, ConversationIndex))
    holder = ProcessLock(paths.runner_lock).holder_pid()
    checks.append(Check("runner", True, "no process is running agents" if holder is None else f"process {holder} holds the runner lock"))
    checks.append(_checkpoints_check(paths, settings.checkpoints))
    checks += _agent_checks(paths, settings)
    checks += _mcp_checks(paths, settings)
    return checks + _protection_checks(settings, paths.root)


def _key_check(model: str, api_base: str | None) -> Check:
    """The provider key, checked as every turn checks it before calling the model."""
    from oboto.llm.providers import CREDENTIAL_CHAIN_PROVIDERS, missing_key_problem, provider_key_env, provider_of

    if problem := missing_key_problem(model, os.environ, api_base=api_base):
        return Check("api key", False, problem)
    variable = provider_key_env(model)
    if variable is None:
        return Check("api key", True, f"{provider_of(model)} needs no key")
    if provider_of(model) in CREDENTIAL_CHAIN_PROVIDERS:
        return Check("api key", True, f"not checked: {provider_of(model)} may also take credentials from a profile "
                                      f"or the machine ({variable})", warning=True)
    return Check("api key", True, f"{variable} is set")


def _agent_checks(paths, settings) -> list[Check]:
    """The agent profiles that load, each one that does not (with why), and the loop's profile."""
    from oboto.agent.profiles import ProfileError, ProfileLibrary
    from oboto.core.paths import user_agents_dir

    catalog = ProfileLibrary([paths.agents_dir, user_agents_dir()]).catalog()
    checks = [Check("agents", not catalog.problems,
                    "; ".join(catalog.problems) or f"profiles: {', '.join(sorted(catalog.profiles))}")]
    if settings.loop.agent:
        try:
            catalog.get(settings.loop.agent)
            checks.append(Check("loop agent", True, f"the agent loop runs as {settings.loop.agent}"))
        except ProfileError as error:
            checks.append(Check("loop agent", False, f"[loop] agent: {error}"))
    return checks


def _mcp_checks(paths, settings) -> list[Check]:
    """Each MCP server, started the way agents would start it, with what is wrong in plain words."""
    import asyncio

    from oboto.services.mcp import McpHub

    hub = McpHub(settings.mcp, paths)

    async def look():
        try:
            return await hub.statuses(start=True)
        finally:
            await hub.aclose()

    checks = []
    for status in asyncio.run(look()):
        if status.state == "disabled":
            checks.append(Check(f"mcp {status.name}", True, "disabled (enabled = false)"))
        elif status.state == "ready":
            left_out = f"; left out: {'; '.join(status.skipped_tools)}" if status.skipped_tools else ""
            checks.append(Check(f"mcp {status.name}", True, f"{status.transport}, {len(status.tools)} tools: "
                                f"{', '.join(status.tools)}{left_out}", warning=bool(status.skipped_tools)))
        else:
            checks.append(Check(f"mcp {status.name}", False, f"{status.error or status.state}; its tools are left out"))
    return checks


def _checkpoints_check(paths, settings) -> Check:
    """The checkpoint store in one line: off, no git, damaged, or git's version, how many changes and how big."""
    from oboto.agent.tools.files import human_size
    from oboto.services.checkpoint_status import store_status

    status = store_status(paths, settings)
    if not status.enabled:
        return Check("checkpoints", True, "off (checkpoints.enabled = false): agents' changes cannot be undone",
                     warning=True)
    if status.git_version is None:
        return Check("checkpoints", False, f"{status.git_problem}: install git, or set checkpoints.enabled = false")
    where = paths.checkpoints_dir.relative_to(paths.root)
    if not status.exists:
        detail = f"git {status.git_version}; no changes recorded yet ({where} is created with the first one)"
    elif not status.sound:
        detail = f"git {status.git_version}; {where} is damaged (oboto will move it aside and start a fresh one)"
    else:
        count = f"{status.changes} change" + ("" if status.changes == 1 else "s")
        detail = (f"git {status.git_version}; {count} in {where}, {human_size(status.size_bytes)} "
                  f"(kept {settings.retention_days:g} days)")
    if status.moved_aside:
        latest = status.moved_aside[-1].relative_to(paths.root)
        detail += f"; a damaged store was moved aside to {latest}"
    return Check("checkpoints", status.sound, detail, warning=bool(status.moved_aside))


def _protection_checks(settings, root: Path) -> list[Check]:
    """How commands are contained, found by running one (`true`) exactly as run_command would."""
    import asyncio

    from oboto.agent.sandbox.launch import LauncherFailed
    from oboto.agent.sandbox.policy import (
        describe_environment,
        describe_limits,
        describe_sandbox,
        describe_state_protection,
        probe,
    )
    from oboto.core.redact import looks_secret

    try:
        plan, report = asyncio.run(probe(settings, root))
    except LauncherFailed as failure:
        return [Check("sandbox", False, f"commands cannot run: {failure}")]
    if report.refused:
        return [Check("sandbox", False, f"commands cannot run: {report.refused}")]
    sandbox_ok, sandbox = describe_sandbox(settings, plan, report)
    secrets = sorted(name for name in os.environ if looks_secret(name) or name in settings.security.redact_env)
    known = f"the values of {', '.join(secrets)} are" if secrets else "no secret is in the environment; any would be"
    return [
        Check("sandbox", sandbox_ok, sandbox, warning=report.unsandboxed),
        Check("state folder", True, describe_state_protection(plan, report), warning=not report.read_only),
        Check("limits", True, describe_limits(settings.shell)),
        Check("environment", True, describe_environment(settings.shell)),
        Check("process tree", True, "each command runs under a child subreaper: every process it starts, also with "
                                    "setsid, nohup or a double fork, ends with its call"),
        Check("redaction", True, f"{known} replaced by [redacted] in tool results (names like *_KEY, *_TOKEN, "
                                 "*_SECRET, *_PASSWORD, plus security.redact_env)"),
    ]


def _permissions_check(permissions) -> Check:
    """The mode and every rule in force, so the person sees exactly what agents may do unasked."""
    from oboto.core.permissions import MODE_DESCRIPTIONS

    parts = [f"mode {permissions.mode} ({MODE_DESCRIPTIONS[permissions.mode]})"]
    for kind in ("deny", "ask", "allow"):
        rules = getattr(permissions, kind)
        if rules:
            parts.append(f"{kind}: {', '.join(rules)}")
    asks = ("become questions for you (oboto questions)" if permissions.background_ask == "question"
            else "are refused")
    parts.append(f"background agents' asks {asks}")
    return Check("permissions", True, "; ".join(parts))


def _local_model_check(model: str, reason: str, root: Path) -> Check:
    """A local model is usable when its GGUF file is there (found without importing llama_cpp)."""
    from oboto.llm.local import local_model_path
    from oboto.llm.types import LLMError

    try:
        path = local_model_path(model, root)
    except LLMError as error:
        return Check("model", False, f"{model} ({reason}): {error.message}")
    return Check("model", True, f"{model}, runs in-process from {path.name} ({reason})")


def run(args: Namespace) -> int:
    checks = gather(args)
    if args.json:
        print_json([check.to_json() for check in checks])
    else:
        for check in checks:
            mark = "FAIL" if not check.ok else "warn" if check.warning else "ok "
            print(f"{mark:4} {check.name:<14} {check.detail}")
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FAILED
