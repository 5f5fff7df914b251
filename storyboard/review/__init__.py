"""Review: every take of every task, which one the film uses, and a page to choose.

Takes in: a compiled storyboard (`compile.compiler.Compilation`, its plan for a
build directory), that build directory (plan.json, run.json, clips/, frames/,
the journal), the clip cache shelf of one backend and the selection file.
Gives out: the takes as plain rows with their status, cost, verdict and clip
(`gather`), the two things a person does with them, pick and reject, as one
set of actions that the command line and the page both call (`actions`), the
page itself rendered from Jinja2 templates shipped with the package (`page`),
served on loopback by starlette (`server`) or written as plain files.

May import language (takes, the selection and its writers), compile's plan
types, run's cache, journal and backend names, `pipeline.compile_storyboard`
(lint then compile, as every command does) and `errors`. Imports nothing from
lint rules, film, animatic, mock or cli. Never sends a request to a provider.
"""
