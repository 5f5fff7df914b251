"""The video API as data: its limits, its request schema, its prices, its timings.

Takes in: nothing but constants, JSON Schema and optional override files.
Gives out: `api` (the limits of API.md as named constants), `request`
(validating a payload), `pricing` (estimating a payload's cost) and `profile`
(endpoints, polling and timeouts of a provider).

Imports nothing from the other stages: every stage may import it.
"""
