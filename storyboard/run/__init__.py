"""Run: the plan's tasks executed as a dependency graph, each clip paid for once.

Takes in: the typed plan (`compile.plan.Plan`) and a backend (`backends/`: the
animatic preview or the kirin API, behind one interface). Gives out: one
verified clip per task under the build directory (`fetch`), the journal of
what was sent and billed (`journal`), the content-addressed clip cache
(`cache`), live progress (`progress`) and the run's report (`record`).

May import language.takes (the names of takes), compile's plan types, provider
and animatic (for the preview backend). Imports nothing from lint, film, mock, pipeline or cli.
"""
