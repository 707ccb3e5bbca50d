"""The checkpoint store: a git directory of oboto's own (`.oboto/checkpoints/`), driven with the git binary.

Every git call here names the store, the workspace and the store's own index explicitly (GIT_DIR,
GIT_WORK_TREE, GIT_INDEX_FILE) and reads neither the system nor the person's git config, so the workspace's
own `.git` is never read or written and no user setting (hooks, signing, filters, line endings) applies.
The one thing taken from the person's git is their global excludes file, so checkpoints ignore what they ignore.
Callers hold the store lock; nothing here locks.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from oboto.core import safe_open
from oboto.core.paths import OBOTO_DIR_NAME
from oboto.services.change_models import Change, FileState, SkippedFile

CHANGE_REFS = "refs/oboto/changes/"
OPEN_REFS = "refs/oboto/open/"
NO_FILE_MODE = "000000"
GIT_TIMEOUT_SECONDS = 600.0

_CONFIG = (
    "core.hooksPath=/dev/null", "core.fsmonitor=false", "core.untrackedCache=false", "core.autocrlf=false",
    "core.safecrlf=false", "core.symlinks=true", "core.fileMode=true", "core.quotePath=false",
    "core.logAllRefUpdates=false", "commit.gpgSign=false", "gc.auto=0", "maintenance.auto=false",
    "init.defaultBranch=checkpoints",
    # A split, path-compressed index: each checkpoint rewrites only what changed, not every entry.
    "core.splitIndex=true", "index.version=4",
)
# Stored bytes are exactly the file's bytes: no line-ending conversion, filters (LFS) or keyword expansion,
# whatever the workspace's .gitattributes say ($GIT_DIR/info/attributes takes precedence over them).
_ATTRIBUTES = b"* -text -filter -ident !eol !working-tree-encoding\n"


class GitFailed(Exception):
    """A git command of the store failed; the message is one line for people."""


class GitMissing(GitFailed):
    """There is no git binary on this machine."""


@dataclass(frozen=True)
class Snapshot:
    """The workspace's files as one git tree, plus the files that were left out of it."""

    tree: str
    skipped: tuple[SkippedFile, ...]

    @property
    def skipped_paths(self) -> set[str]:
        return {file.path for file in self.skipped}


@dataclass(frozen=True)
class DiffEntry:
    path: str
    before: FileState | None
    after: FileState | None
    added_lines: int | None
    deleted_lines: int | None


def _global_excludes_file() -> str | None:
    """The person's global gitignore (`core.excludesFile`, else git's default location), if there is one."""
    git = shutil.which("git")
    if git is None:
        return None
    found = subprocess.run([git, "config", "--global", "--path", "--get", "core.excludesFile"], cwd="/",
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False).stdout.strip()
    if found:
        return found
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    default = Path(xdg) / "git" / "ignore"
    return str(default) if default.is_file() else None


class CheckpointRepo:
    def __init__(self, root: Path, git_dir: Path, *, max_file_bytes: int, obotoignore: Path) -> None:
        self.root = root
        self.git_dir = git_dir
        self.max_file_bytes = max_file_bytes
        self.obotoignore = obotoignore
        self._git_binary = shutil.which("git")
        excludes = _global_excludes_file()
        self._config = _CONFIG + ((f"core.excludesFile={excludes}",) if excludes else ())
        self._env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
        self._env.update({
            "GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(root), "GIT_INDEX_FILE": str(git_dir / "index"),
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "oboto", "GIT_AUTHOR_EMAIL": "oboto@localhost",
            "GIT_COMMITTER_NAME": "oboto", "GIT_COMMITTER_EMAIL": "oboto@localhost",
        })

    # ----- running git -------------------------------------------------------------------------

    def _binary(self) -> str:
        if self._git_binary is None:
            raise GitMissing("checkpoints need git, and there is no git on this machine's PATH")
        return self._git_binary

    def git(self, *args: str, input: bytes | None = None, ok_codes: tuple[int, ...] = (0,)) -> bytes:
        name = next(arg for arg in args if not arg.startswith("-"))
        command = [self._binary()]
        for setting in self._config:
            command += ["-c", setting]
        try:
            done = subprocess.run([*command, *args], cwd=self.root, env=self._env, input=input, capture_output=True,
                                  timeout=GIT_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise GitFailed(f"git {name} could not run: {error}") from error
        if done.returncode not in ok_codes:
            lines = [line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
            raise GitFailed(f"git {name} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
        return done.stdout

    def git_version(self) -> str:
        """The git binary's version, e.g. "2.39.2"."""
        try:
            done = subprocess.run([self._binary(), "--version"], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=GIT_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise GitFailed(f"git --version could not run: {error}") from error
        return done.stdout.strip().removeprefix("git version ")

    def open(self) -> None:
        """Create the store when it does not exist yet; clear a lock a killed git left behind."""
        if not self.git_dir.exists():
            self.git_dir.parent.mkdir(parents=True, exist_ok=True)
            self.git("init", "--quiet", "--template=")
        stale = self.git_dir / "index.lock"
        if stale.exists():  # the caller holds the store lock, so no git of ours is using it
            stale.unlink()

    def is_sound(self) -> bool:
        """Whether the store is a readable git directory whose objects are all there."""
        try:
            self.git("fsck", "--connectivity-only", "--no-progress", "--no-dangling")
        except GitFailed:
            return False
        return True

    # ----- taking checkpoints ------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Bring the store's index up to date with the workspace and write it as a tree."""
        self._write_info_files()
        listed = self.git("ls-files", "-z", "--others", "--modified", "--deleted", "--exclude-standard",
                          "-x", f"/{OBOTO_DIR_NAME}/")
        stage: list[bytes] = []
        unstage: list[bytes] = []
        skipped: list[SkippedFile] = []
        for raw in sorted(set(listed.split(b"\0")) - {b""}):
            path = os.fsdecode(raw)
            if path.split("/", 1)[0] == OBOTO_DIR_NAME:
                continue
            if path.endswith("/"):
                skipped.append(SkippedFile(path=path, reason="a nested git repository"))
                continue
            reason, info = self._why_left_out(path)
            if reason is None:
                stage.append(raw)
                continue
            unstage.append(raw)
            if info is not None and not stat.S_ISDIR(info.st_mode):
                skipped.append(SkippedFile(path=path, reason=reason, size=info.st_size, mtime_ns=info.st_mtime_ns))
        if unstage:
            self.git("update-index", "--force-remove", "-z", "--stdin", input=b"\0".join(unstage) + b"\0")
        if stage:
            self.git("update-index", "--add", "--remove", "-z", "--stdin", input=b"\0".join(stage) + b"\0")
        tree = self.git("write-tree").decode().strip()
        return Snapshot(tree, tuple(skipped))

    def _why_left_out(self, path: str) -> tuple[str | None, os.stat_result | None]:
        """Why `path` stays out of the checkpoint (None: it goes in, or its deletion does)."""
        full = self.root / path
        try:
            info = os.lstat(full)
        except FileNotFoundError:
            return None, None
        except OSError as error:
            return f"cannot be read ({error.strerror})", None
        if stat.S_ISLNK(info.st_mode):
            return None, info
        if stat.S_ISDIR(info.st_mode):
            return "a folder now", info  # its files are listed on their own; only the old file entry goes
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file", info
        if info.st_size > self.max_file_bytes:
            return f"over the {self.max_file_bytes:,} byte size cap (checkpoints.max_file_bytes)", info
        if not os.access(full, os.R_OK):
            return "cannot be read (permission denied)", info
        return None, info

    def _write_info_files(self) -> None:
        """Excludes: oboto's state, the workspace repository's own info/exclude, and `.obotoignore`."""
        parts = [b"# written by oboto before each checkpoint; put your own patterns in .obotoignore\n",
                 f"/{OBOTO_DIR_NAME}/\n".encode()]
        for source in (self.root / ".git" / "info" / "exclude", self.obotoignore):
            try:
                parts.append(source.read_bytes().rstrip(b"\n") + b"\n")
            except OSError:
                continue
        _write_if_changed(self.git_dir / "info" / "exclude", b"".join(parts))
        _write_if_changed(self.git_dir / "info" / "attributes", _ATTRIBUTES)

    def commit(self, tree: str, message: bytes, parent: str | None = None) -> str:
        args = ["commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-"]
        return self.git(*args, input=message).decode().strip()

    def hold(self, change_id: str, snapshot: Snapshot) -> str:
        """Commit a change's before checkpoint and keep it from being pruned while the change is open."""
        message = orjson.dumps({"oboto": "checkpoint", "change": change_id,
                                "skipped": [file.model_dump(mode="json") for file in snapshot.skipped]})
        commit = self.commit(snapshot.tree, message)
        self.git("update-ref", OPEN_REFS + change_id, commit)
        return commit

    def record(self, change: Change, after: Snapshot) -> str:
        """Store `change` as a commit of the after tree whose parent is the before checkpoint; returns it."""
        message = orjson.dumps(change.model_dump(mode="json", exclude={"after"}))
        commit = self.commit(after.tree, message, parent=change.before)
        self.git("update-ref", "--stdin",
                 input=f"create {CHANGE_REFS}{change.id} {commit}\ndelete {OPEN_REFS}{change.id}\n".encode())
        return commit

    def drop(self, change_id: str) -> None:
        """Forget an open change that changed nothing."""
        self.git("update-ref", "--stdin", input=f"delete {OPEN_REFS}{change_id}\n".encode())

    # ----- reading -----------------------------------------------------------------------------

    def records(self) -> list[tuple[str, bytes]]:
        """(commit, stored record) of every change."""
        out = self.git("for-each-ref", "--format=%(objectname) %(contents:subject)", CHANGE_REFS)
        result = []
        for line in out.splitlines():
            commit, _, record = line.partition(b" ")
            result.append((commit.decode(), record))
        return result

    def diff(self, before: str, after: str) -> list[DiffEntry]:
        """Every file that differs between two checkpoints (commits or trees), with line counts."""
        tokens = self.git("diff-tree", "-r", "-z", "--no-renames", "--raw", "--numstat", before, after).split(b"\0")
        states: dict[str, tuple[FileState | None, FileState | None]] = {}
        counts: dict[str, tuple[int | None, int | None]] = {}
        position = 0
        while position < len(tokens) and tokens[position]:
            token = tokens[position]
            if token.startswith(b":"):
                old_mode, new_mode, old_blob, new_blob, _status = token[1:].decode().split(" ")
                path = os.fsdecode(tokens[position + 1])
                states[path] = (_state(old_mode, old_blob), _state(new_mode, new_blob))
                position += 2
                continue
            added, deleted, raw_path = token.split(b"\t", 2)
            counts[os.fsdecode(raw_path)] = (None, None) if added == b"-" else (int(added), int(deleted))
            position += 1
        return [DiffEntry(path, before_state, after_state, *counts.get(path, (None, None)))
                for path, (before_state, after_state) in sorted(states.items())]

    def ignored(self, paths: list[str]) -> set[str]:
        """Which of `paths` the ignore rules keep out of checkpoints."""
        if not paths:
            return set()
        self._write_info_files()
        # Exit status 1 means that none of them is ignored.
        out = self.git("check-ignore", "-z", "--no-index", "--stdin", ok_codes=(0, 1),
                       input=b"\0".join(os.fsencode(path) for path in paths) + b"\0")
        return {os.fsdecode(raw) for raw in out.split(b"\0") if raw}

    def blobs(self, blob_ids: list[str]) -> dict[str, bytes]:
        """The contents of stored files, read in one `cat-file --batch`."""
        wanted = sorted(set(blob_ids))
        if not wanted:
            return {}
        out = self.git("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
        contents: dict[str, bytes] = {}
        position = 0
        for blob in wanted:
            header_end = out.index(b"\n", position)
            header = out[position:header_end].split(b" ")
            if len(header) != 3:
                raise GitFailed(f"git cat-file failed: the stored file {blob} is missing")
            size = int(header[2])
            contents[blob] = out[header_end + 1: header_end + 1 + size]
            position = header_end + 1 + size + 1
        return contents

    def unified_diff(self, before: str, after: str, paths: list[str], *, color: bool) -> str:
        """`git diff` between two checkpoints, limited to `paths` (exact renames shown as renames)."""
        if not paths:
            return ""
        out = self.git("--literal-pathspecs", "diff", "--no-ext-diff", "--no-textconv", "-M100%",
                       "--color=always" if color else "--no-color", before, after, "--", *paths)
        return out.decode("utf-8", errors="replace")

    # ----- pruning -----------------------------------------------------------------------------

    def open_refs(self) -> list[tuple[str, float]]:
        """(change id, commit time) of every change still open, or left open by a process that died."""
        out = self.git("for-each-ref", "--format=%(refname:lstrip=3) %(committerdate:unix)", OPEN_REFS)
        return [(name.decode(), float(stamp)) for name, stamp in (line.split(b" ") for line in out.splitlines())]

    def delete_refs(self, refs: list[str]) -> None:
        if refs:
            self.git("update-ref", "--stdin", input="".join(f"delete {ref}\n" for ref in refs).encode())

    def collect_garbage(self) -> None:
        """Drop every object no remaining change needs, and pack the rest."""
        self.git("gc", "--quiet", "--prune=now")


def _state(mode: str, blob: str) -> FileState | None:
    return None if mode == NO_FILE_MODE else FileState(mode=mode, blob=blob)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write one of the store's own files, never through a link put in its place."""
    try:
        if safe_open.read_bytes(path) == data:
            return
    except OSError:
        pass  # missing, or not a file: replaced below
    safe_open.write_atomic(path, data, mode=0o644)
