"""Film: clips in, one verified film out.

Takes in: the cut (clips with their trims and transitions) and the audio.
Gives out: the film (MP4), its poster and contact sheet, and what was
verified. `cut` names what goes in and comes out (plain data), `cutplan`
normalises every clip first, `graph` turns the cut into ffmpeg arguments,
`smart` finds what can be copied and re-encodes the rest, `loudness`
measures the sound (or reckons it from each clip's, kept), `stitch` runs
them, `verify` checks the result, and `artifact` keys the film by its
inputs so that an unchanged one is never cut again.

May import compile's plan types, the language's `montage` types (one
`Transition` and one `Audio` from the storyboard to the film) and its schema,
provider (the clips' frame rate), animatic's cards (the contact sheet) and
`storyboard.media`. Imports nothing from lint, run, mock, pipeline or cli.
"""
