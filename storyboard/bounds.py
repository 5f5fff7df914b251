"""The bounds on untrusted input, once.

A storyboard may come from a stranger's pull request and be linted on a CI
runner, so every stage that reads it is bounded in size, work and time.
`api.py` holds the provider's limits (R1-R23); this module holds ours: what
the loader, the template sandbox, the media checks and the URL checker
accept before they refuse with a problem at a line.
"""

from __future__ import annotations

from typing import Final

# --- the loader (load.py) ---------------------------------------------------------
# A hostile file must lint inside the 10 s of CPU a CI runner gives a stranger's
# pull request. Pure-Python YAML parsing costs about 120 µs per token: the token
# count is bounded before parsing (the densest text, `[1,1,1,...]`, has a token
# every two bytes), and bytes bound what the scanner reads between tokens.
MAX_FILE_BYTES: Final = 256 * 2**10  # one storyboard or include file: some 6,000 lines
MAX_YAML_TOKENS: Final = 25_000  # flow indicators, `key: `, `- ` and line breaks of one file
MAX_NODES: Final = 200_000  # YAML nodes after alias expansion (alias bombs)
MAX_DEPTH: Final = 64  # nesting of mappings and sequences
MAX_INCLUDE_FILES: Final = 64  # files read for one storyboard, itself included
# Bytes read for one storyboard, includes included: no more than one file may hold.
MAX_INCLUDE_BYTES: Final = MAX_FILE_BYTES
MAX_ID_CHARS: Final = 64  # scene ids (they name files: clips/<id>.N.mp4), asset and var names
MAX_SNIFF_BYTES: Final = 64 * 2**10  # what lint reads of a file a glob finds, to tell a storyboard

# --- the template sandbox (templates.py) --------------------------------------------
MAX_RENDERED_CHARS: Final = 100_000  # one prompt's output, checked while it renders
MAX_POWER: Final = 10_000  # the exponent of `**`
MAX_INT_BITS: Final = 4_096  # any integer a template computes
MAX_LOOP_ITERATIONS: Final = 10_000  # all loop iterations of one prompt, nested ones included
MAX_FORMAT_WIDTH: Final = 10_000  # widths in `%`, `format` and string-padding filters
MAX_TEMPLATE_CHARS: Final = 10_000  # one prompt's source (compiling costs ~10 µs a character)
MAX_RANGE: Final = 100_000  # numbers in one range()
MAX_CALLS: Final = 1_000  # macro and method calls of one prompt
MAX_TEMPLATE_WORK: Final = 1_000_000  # characters and items one prompt's operations touch
MAX_STORYBOARD_WORK: Final = 4_000_000  # the same, all the prompts of one storyboard together

# --- local media checked by lint (rules/files.py) -----------------------------------
MAX_IMAGE_PIXELS: Final = 40_000_000  # decided from the header, before decoding
MAX_PROBE_SECONDS: Final = 1.0  # a video is decoded at its first and last second
MAX_PROBE_FRAMES: Final = 120  # decoded at each end at most (a long GOP is not decoded whole)

# --- URL checks (--check-urls) -----------------------------------------------------
MAX_REDIRECTS: Final = 3
URL_DEADLINE_SECONDS: Final = 10.0  # the whole check of one URL, redirects included
URL_SNIFF_BYTES: Final = 64 * 2**10  # what is read of a body, whatever the server sends

# --- override files (prices, provider profile) -----------------------------------
MAX_CONFIG_BYTES: Final = 64 * 2**10  # one TOML or JSON file of settings
