"""The storyboard language: a YAML file in, a typed model out.

Takes in: a storyboard file (and the files it includes), read within the bounds
of `storyboard.bounds`. Gives out: the parsed `Document` with positions
(`load`), the schema's problems (`schema`), and the `Storyboard` model with
every default resolved (`model`); and the starter file `init` writes (`starter`).

Imports nothing from the stages after it (lint, compile, provider, run, film,
animatic, mock, pipeline, cli).
"""
