"""The animatic: a clip drawn locally from a payload, without a model and at no cost.

Takes in: one API payload (prompts, first frame, references). Gives out: an
MP4 clip of the payload's length with its prompts and references drawn on
cards. Used by the preview backend and by the mock provider.

May import provider and `storyboard.media`. Imports nothing from lint,
compile, run, film, mock, pipeline or cli.
"""

RENDERER_VERSION = 4
"""Bumped whenever the renderer draws differently: cached animatics of an older
version are not reused (they live under another cache source). Here, not in the
renderer, so that naming the preview's cache shelf loads no drawing code."""
