"""Lint: every rule of the language and of the API, checked before anything is spent.

Takes in: a storyboard path. Gives out: `Problem`s at their line and column
(`engine.lint_file`), printed by `formatters` in four formats. Rule families
live in `rules/`, one module each, with failing and passing examples.

May import language, compile (the tasks lint judges are the ones the compiler
would emit) and provider. Imports nothing from run, film, animatic, mock,
pipeline or cli. No rule prints or exits.
"""
