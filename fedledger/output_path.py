"""Where the command line writes: a path is checked when the command is parsed, so a benchmark
or a study does not run for minutes and then fail to save its result.

``OutputPath`` refuses, with a usage error naming the path and the reason, a file or folder
that cannot be written: an existing one without write permission, one of the wrong kind, or
one whose nearest existing parent is not a folder the user may create entries in. Folders
missing on the way are fine (the commands create them).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click


class OutputPath(click.Path):
    """A ``click.Path`` (``path_type=Path``) for something the command will write."""

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = False) -> None:
        super().__init__(file_okay=file_okay, dir_okay=dir_okay, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(super().convert(value, param, ctx))
        problem = why_unwritable(path, want_dir=not self.file_okay)
        if problem:
            self.fail(f"cannot write {str(path)!r}: {problem}", param, ctx)
        return path


def why_unwritable(path: Path, want_dir: bool = False) -> str | None:
    """Why ``path`` (a file, or a folder when ``want_dir``) cannot be written, or None if it can."""
    if path.exists():
        if want_dir and not path.is_dir():
            return "it exists and is not a folder"
        if not want_dir and path.is_dir():
            return "it is a folder"
        if not os.access(path, os.W_OK):
            return "no permission to write it"
        return None
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            return "no part of it exists"
        parent = parent.parent
    if not parent.is_dir():
        return f"{str(parent)!r} is not a folder"
    try:  # a probe, not os.access: root passes that, and /proc or a read-only mount still refuse
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        return f"cannot create entries in {str(parent)!r} ({exc.strerror or exc})"
    return None
