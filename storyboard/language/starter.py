"""The starter storyboard `storyboard init` writes: the language's shortest tour.

It shows a single-shot scene, a multi-shot scene that starts on the first
one's last frame, vars, and a cut with a crossfade; it must lint clean and
compile with any title (a test holds it to that), since it is a new user's
first file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from storyboard.language.schema import STORYBOARD_SCHEMA, schema_id

STARTER = """\
# yaml-language-server: $schema={schema}
storyboard: 1
title: {title}
defaults:
  mode: std            # std (720p) | pro (1080p)
  aspect_ratio: "16:9" # 16:9 | 9:16 | 1:1
  sound: false
vars:
  style: cinematic, soft natural light, 35mm film grain
assets: {{}}            # name: {{image: path.png}} | {{element: 123}} | {{video: clip.mp4}}
scenes:
  - id: opening
    prompt: "A quiet street at dawn, mist over the rooftops, {{{{ style }}}}"
    duration: 5
  - id: walk
    first_frame: {{from: opening}}
    shots:
      - duration: 3
        prompt: "A cyclist crosses the frame from left to right, {{{{ style }}}}"
      - duration: 4
        prompt: "Close-up of the bicycle bell catching the first sunlight"
cut:
  - opening
  - {{scene: walk, transition: {{type: crossfade, duration: 0.5}}}}
"""


def starter_storyboard(title: str, folder: Path | None = None) -> str:
    """The starter's text, titled `title`, for a file in `folder`: its schema comment
    is never an absolute path, which would break on a colleague's machine."""
    return STARTER.format(schema=schema_reference(folder), title=json.dumps(title))


def schema_reference(folder: Path | None) -> str:
    """What the first line's `$schema=` says for a storyboard in `folder`: the
    relative path to the nearest `schemas/storyboard.schema.json` above it (a
    project that keeps the schema, as this one's examples do), else the schema's
    stable `$id` URL."""
    if folder is not None:
        start = folder.resolve()
        for ancestor in (start, *start.parents):
            candidate = ancestor / "schemas" / STORYBOARD_SCHEMA.name
            if candidate.is_file():
                return Path(os.path.relpath(candidate, start)).as_posix()
    return schema_id()
