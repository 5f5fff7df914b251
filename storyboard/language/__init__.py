"""The storyboard language: a YAML file in, a typed model out.

Takes in: a storyboard file (and the files it includes), read within the bounds
of `storyboard.bounds`. Gives out: the parsed `Document` with positions
(`load`), the schema's problems (`schema`), and the `Storyboard` model with
every default resolved (`model`), the types of the cut and its music that
every later stage shares (`montage`), and the starter file `init` writes
(`starter`).

May import provider (the API's vocabulary). Imports nothing from the stages
after it (lint, compile, run, film, animatic, mock, pipeline, cli).
"""
