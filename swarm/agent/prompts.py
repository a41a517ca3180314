"""Prompt templates from `prompts/`, filled with `string.Template` (`$name`)."""

from __future__ import annotations

import functools
from importlib import resources
from string import Template


@functools.cache
def template(name: str) -> str:
    """The text of `prompts/<name>.md`."""
    return resources.files("swarm.prompts").joinpath(f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """Fill a template; unknown `$names` are left as written."""
    return Template(template(name)).safe_substitute({k: str(v) for k, v in values.items()}).strip() + "\n"
