"""Compile: a linted storyboard in, the plan out.

Takes in: the `Storyboard` model and its task specs. Gives out: the plan, every
task's API payload, cache key and estimated cost, the cut as clip segments,
and plan.json on disk. Renders prompt templates in a bounded sandbox
(`templates`; `sandbox` with its `budget` and `guards`), resolves
references (`references`), packs shots into tasks (`packing`, `specs`).

Pure apart from reading the storyboard's own media to hash or inline them.
May import language and provider. Imports nothing from lint, run, film,
animatic, mock, pipeline or cli.
"""
