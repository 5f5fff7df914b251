"""Many machines: the run stage on a durable engine (DBOS) shared through a database.

Takes in: a typed plan and the shared clip cache. Gives out: one DBOS workflow
per take, run by `storyboard worker` processes on any machine, each running the
run stage's own `Executor` on a one-take plan (`workflows`), so that there is
one implementation of a task's steps whether it runs here or on a worker; each
create and the wait for its task holds a slot of the account-limited queue.
Also: the jobs and their names (`jobs`), the render's side, which enqueues the
takes and follows them (`coordinator`), the engine, its queues and the liveness
of workers (`engine`), the worker process (`worker`) and `--max-cost` across
machines (`budget`).

May import run, compile, provider and language. Imports nothing from lint,
film, mock, pipeline or cli.
"""
