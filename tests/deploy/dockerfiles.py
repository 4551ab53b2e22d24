"""Just enough of the Dockerfile and .dockerignore formats to check ours."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One instruction: `COPY --from=uv /uv /bin/` -> ("COPY", "--from=uv /uv /bin/")."""

    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD or HEALTHCHECK, None for the shell form."""
        text = re.sub(r"^(--\S+\s+)*(CMD\s+)?", "", self.arguments)
        if not text.startswith("["):
            return None
        words = json.loads(text)
        assert isinstance(words, list)
        return [str(word) for word in words]

    def flags(self) -> dict[str, str]:
        """Leading `--name=value` options (`COPY --from=builder`); a repeated one keeps the last."""
        found = {}
        for word in self.arguments.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            found[name] = value
        return found


@dataclass
class Stage:
    """A build stage: `FROM <base> AS <name>` and what follows."""

    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """The stage's instructions of one kind, in order."""
        return [i for i in self.instructions if i.keyword == keyword]


def parse(path: Path) -> tuple[list[Instruction], list[Stage]]:
    """Global instructions (before the first FROM) and the stages."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
    preamble: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            base, _, name = instruction.arguments.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip() or str(len(stages))))
        elif stages:
            stages[-1].instructions.append(instruction)
        else:
            preamble.append(instruction)
    return preamble, stages


def copy_sources(instruction: Instruction) -> list[str]:
    """The source paths of a COPY (everything but its options and destination)."""
    words = [w for w in instruction.arguments.split() if not w.startswith("--")]
    return words[:-1]


def ignore_patterns(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """`.dockerignore` as (is_exception, regex) pairs, in order."""
    patterns = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def ignored(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves `relative` out of the build context (the last match wins).

    As in Docker, a pattern that matches a folder matches everything in it.
    """
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for exception, regex in patterns:
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not exception
    return excluded
