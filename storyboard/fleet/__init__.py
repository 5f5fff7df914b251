"""Many machines: the run stage on a durable engine (DBOS) shared through a database.

Takes in: a typed plan and the shared clip cache. Gives out: one DBOS workflow
per take, run by `storyboard worker` processes on any machine, each running
the run stage's own `Executor` on a one-take plan (`workflows`), so that there is
one implementation of a task's steps whether it runs here or on a worker; the
render's side, which enqueues the takes in dependency order and follows them
(`coordinator`); the jobs and their names (`jobs`); the engine itself, its
queues and the liveness of workers (`engine`).

May import run, compile, provider and language. Imports nothing from lint,
film, mock, pipeline or cli.
"""
