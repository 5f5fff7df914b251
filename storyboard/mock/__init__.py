"""The mock provider: the API of API.md served over HTTP on loopback, with faults.

Takes in: a `MockConfig` (seeded fault rates, latencies, prices). Gives out: a
server that answers create, status, query and download like the real
provider (`server`), draws its clips with the animatic (`clips`), and
misbehaves on purpose (`faults`): the tests' and the demos' provider. What it
knows, the config and the tasks, is one type all three share (`state`).

May import provider, animatic and `storyboard.media`. Imports nothing from
lint, compile, run, film, pipeline or cli.
"""
