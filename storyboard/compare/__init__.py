"""Compare: what a change to a storyboard would cost, before it is made.

Takes in: two compiled plans (the working copy's and a base's: a git ref's
or another file's), the names their storyboards gave their assets, and the
cache shelf of the backend that would render. Gives out: a `PlanDiff` (tasks
added, removed, changed with the fields that changed, unchanged; cached or
to send; the cost at list prices; the clips reused; the film's length) and
its views (text, Markdown for a pull request, JSON). `base` finds the base
storyboard at a git ref; `fields` compares one task's two versions, `plans`
two plans, `views` prints them.

May import compile (the plan types, payload inputs, placeholders), language,
run's cache and `storyboard.report` (the `plan` command's rows, so that diff
and plan agree on every clip). Imports nothing from lint, film, animatic,
mock, pipeline or cli; the command (`storyboard.cli.diff`) compiles.
"""
