"""The mock provider: the API of API.md served over HTTP on loopback, with faults.

Takes in: a `MockConfig` (seeded fault rates, latencies, prices). Gives out: a
server that answers create, status, query and download like the real
provider, draws its clips with the animatic, and misbehaves on purpose
(`faults`): the tests' and the demos' provider.

May import provider, animatic and `storyboard.media`. Imports nothing from
lint, compile, run, film, pipeline or cli.
"""
