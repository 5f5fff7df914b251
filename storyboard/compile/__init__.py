"""Compile: a linted storyboard in, the plan out.

Takes in: the `Storyboard` model, its task specs and the price table (loaded
by the caller). Gives out: the typed plan (`plan`: every task's API payload,
cache key and estimated cost, the cut as clip segments, the task graph) and
plan.json on disk (`compiler`). Renders prompt templates in a bounded sandbox
(`templates`; `sandbox` with its `budget` and `guards`), resolves
references (`references`), packs shots into tasks (`packing`, `specs`),
builds payloads and cache keys (`payload`);
`placeholders` is the one place a `${task:...}`/`${file:...}` is written or read.

Pure apart from reading the storyboard's own media to hash or inline them.
May import language and provider. Imports nothing from lint, run, film,
animatic, mock, pipeline or cli.
"""
