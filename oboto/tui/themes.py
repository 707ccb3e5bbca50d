"""Themes from files: the ones shipped in `themes/` plus the user's own, and the remembered choice.

A theme file is TOML:

    name = "ember"                 # what the palette shows and `tui-state.json` remembers
    dark = true
    primary = "#E07A3F"            # required; every other colour is optional
    secondary = "#B5835A"
    accent = "#F2C14E"
    background = "#1A1412"
    surface = "#221A17"
    panel = "#33261F"
    foreground = "#EEDFD3"
    warning = "#FFB000"
    error = "#E0533D"
    success = "#8FBF5A"
    description = "Warm charcoal and ember orange."   # optional, for people reading the file

    [variables]                    # optional Textual design variables
    "footer-key-foreground" = "#F2C14E"

A file that does not parse, misses `primary`, has an unknown key or an unusable colour is skipped;
every such file is reported in one notification and the app goes on with the themes that loaded.
"""

from __future__ import annotations

import site
import sys
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from textual.css.stylesheet import Stylesheet, StylesheetParseError
from textual.theme import Theme

from oboto.core.atomic import atomic_write_json
from oboto.core.paths import user_config_dir

if TYPE_CHECKING:
    from textual.app import App

DEFAULT_THEME = "oboto-dark"
STATE_FILE_NAME = "tui-state.json"
# Where `[tool.setuptools.data-files]` in pyproject.toml installs the shipped themes, below a prefix.
INSTALLED_THEMES_SUBDIR = Path("share") / "oboto" / "themes"


class ThemeFile(BaseModel):
    """The fields of one theme file; unknown keys are refused so a typo does not pass silently."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The theme's name, shown in the palette as `Theme: <name>`."""
    primary: str
    """The main colour: the focused border, buttons, the header."""
    secondary: str | None = None
    accent: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    foreground: str | None = None
    warning: str | None = None
    """Also the colour of the blocking-question banner, so make it loud."""
    error: str | None = None
    success: str | None = None
    dark: bool = True
    description: str | None = None
    author: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    """Textual design variables (`footer-key-foreground`, `block-cursor-text-style`, …)."""


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file and says why."""


@dataclass
class ThemeLoad:
    """The themes that loaded and one line per file that did not."""

    themes: list[Theme] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def shipped_themes_dir() -> Path | None:
    """The folder of the themes shipped with oboto, in a source checkout or an installed wheel.

    A source checkout (also an editable install) has `themes/` beside the `oboto` package and its
    `pyproject.toml`; a wheel installs the files under `<prefix>/share/oboto/themes` (pyproject's
    `data-files`), where the prefix is the environment's, or the user base for `pip install --user`.
    """
    checkout = Path(__file__).resolve().parents[2]
    candidates = []
    if (checkout / "pyproject.toml").is_file():
        candidates.append(checkout / "themes")
    candidates += [Path(sysconfig.get_path("data")) / INSTALLED_THEMES_SUBDIR,
                   Path(sys.prefix) / INSTALLED_THEMES_SUBDIR]
    if site.USER_BASE:
        candidates.append(Path(site.USER_BASE) / INSTALLED_THEMES_SUBDIR)
    return next((folder for folder in candidates if folder.is_dir()), None)


def user_themes_dir() -> Path:
    """The person's own theme files (`~/.config/oboto/themes/`)."""
    return user_config_dir() / "themes"


def load_theme_file(path: Path) -> Theme:
    """One theme file as a Textual `Theme`; `ThemeFileError` if it cannot be used."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ThemeFileError(f"{path}: cannot be read ({error})") from error
    except tomllib.TOMLDecodeError as error:
        raise ThemeFileError(f"{path}: not valid TOML ({error})") from error
    try:
        spec = ThemeFile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'file'}: {item['msg']}" for item in error.errors())
        raise ThemeFileError(f"{path}: {problems}") from error
    theme = Theme(**spec.model_dump(exclude={"description", "author"}))
    try:
        # Building the colour system parses every colour, so a bad one is caught here, not mid-render.
        defaults = Theme(name=theme.name, primary=theme.primary).to_color_system().generate()
        theme.to_color_system().generate()
    except Exception as error:  # Textual raises several kinds (ColorParseError, ValueError, KeyError)
        raise ThemeFileError(f"{path}: unusable colour ({error})") from error
    bad = [f"{key} = {value!r}" for key, value in spec.variables.items()
           if key in defaults and not _fits_like(value, defaults[key])]
    if bad:
        raise ThemeFileError(f"{path}: unusable variable value(s): {', '.join(bad)}")
    return theme


def _fits_like(value: str, default: str) -> bool:
    """Whether `value` is usable wherever Textual's CSS uses the variable whose stock value is `default`.

    Textual only finds a bad variable when it parses its whole stylesheet, and then the app cannot start,
    so each known variable is tried in the properties its stock value is valid for (a colour, a text style).
    """
    fitting = [prop for prop in ("color", "text-style") if _parses(prop, default)]
    return any(_parses(prop, value) for prop in fitting) if fitting else True


def _parses(prop: str, value: str) -> bool:
    sheet = Stylesheet(variables={"value": value})
    sheet.add_source(f"Widget {{ {prop}: $value; }}")
    try:
        sheet.parse()
    except StylesheetParseError:
        return False
    return True


def load_themes(folders: list[Path | None]) -> ThemeLoad:
    """Every `*.toml` theme in `folders`, in order, so a later folder's theme overrides an earlier one's."""
    result = ThemeLoad()
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                result.themes.append(load_theme_file(path))
            except ThemeFileError as error:
                result.failures.append(str(error))
    return result


def state_file() -> Path:
    """The small per-user file that remembers TUI choices across runs."""
    return user_config_dir() / STATE_FILE_NAME


def _read_state() -> dict[str, Any]:
    try:
        data = orjson.loads(state_file().read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_theme() -> str | None:
    """The theme chosen last time, if any."""
    theme = _read_state().get("theme")
    return theme if isinstance(theme, str) else None


def remember_theme(name: str) -> None:
    """Store the chosen theme, keeping whatever else the state file holds."""
    state = _read_state()
    state.update({"version": 1, "theme": name})
    atomic_write_json(state_file(), state)


def register_themes(app: App[Any]) -> list[str]:
    """Register every theme, apply the remembered one (else `oboto-dark`) and remember later changes.

    Called from the app's `on_mount`. Returns the problems it reported (broken files, a remembered
    theme that is gone), which were also shown in one notification.
    """
    loaded = load_themes([shipped_themes_dir(), user_themes_dir()])
    for theme in loaded.themes:
        app.register_theme(theme)
    problems = list(loaded.failures)
    wanted = remembered_theme()
    if wanted is not None and wanted not in app.available_themes:
        problems.append(f"the theme chosen last time, {wanted!r}, is not available")
        wanted = None
    chosen = wanted or (DEFAULT_THEME if DEFAULT_THEME in app.available_themes else app.theme)
    if problems:
        app.notify("\n".join(problems), title=f"Theme problems (using {chosen})", severity="error", timeout=20,
                   markup=False)
    app.theme = chosen
    _remember_changes(app, chosen)
    return problems


def _remember_changes(app: App[Any], current: str) -> None:
    """Write the state file whenever the theme changes, however it was changed (palette, Textual's picker)."""
    last = {"name": current}

    def changed(theme: Theme) -> None:
        if theme.name == last["name"]:
            return  # the startup choice being applied, not a change
        last["name"] = theme.name
        try:
            remember_theme(theme.name)
        except OSError as error:
            app.notify(f"Could not remember the theme in {state_file()}: {error}", severity="warning", timeout=8)

    app.theme_changed_signal.subscribe(app, changed)
