"""The animatic: a clip drawn locally from a payload, without a model and at no cost.

Takes in: one API payload (prompts, first frame, references). Gives out: an
MP4 clip of the payload's length with its prompts and references drawn on
cards. Used by the preview backend and by the mock provider.

May import provider and `storyboard.media`. Imports nothing from lint,
compile, run, film, mock, pipeline or cli.
"""
