"""`storyboard takes`, `pick`, `reject` and `review`: the takes of each task, and
which one the film uses."""

from __future__ import annotations

import click

COMMANDS: tuple[click.Command, ...] = ()
