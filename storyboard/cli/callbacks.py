"""`storyboard callback-server`: a standalone receiver of provider callbacks."""

from __future__ import annotations

from typing import Any

import click

from storyboard.cli.common import DATABASE_ENV, friendly
from storyboard.errors import UsageError


@click.command(name="callback-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8766, show_default=True, help="0: any."
)
@click.option(
    "--prefix",
    default="/",
    show_default=True,
    help="The path the callback URLs start with, as requests arrive here.",
)
@click.option(
    "--forward",
    metavar="URL",
    help="Hand each verified notice on to the receiver at URL: a render's "
    "--callback-listen address with its --callback-url's path.",
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    metavar="URL",
    help="Or hand each notice to the workflow waiting for its task in this engine "
    "(workers started with --callback-url pointing here).",
)
@friendly
def callback_server(
    host: str, port: int, prefix: str, forward: str | None, database: str | None
) -> None:
    """Receive provider callbacks (R22) and hand each verified one on.

    Answers POST <prefix>/<task>/<token> when the token is the task's (made with
    this machine's callback key, or $STORYBOARD_CALLBACK_SECRET: the renders and
    workers it serves need the same), 404 to anything else. It has nobody waiting
    in its own process, so it hands each notice on: with --forward, to a render's
    own receiver over HTTP (a 404 there is passed back; no answer is a 503); with
    --database, to the engine's workflow waiting for that task (DBOS send), for
    workers started with --callback-url pointing here. Whoever waits keeps
    polling as a fallback, so a notice lost here only costs time.
    """
    import asyncio

    from storyboard.run.callbacks import Listen, load_key
    from storyboard.run.callbacks.address import check_callback_url
    from storyboard.run.callbacks.receiver import (
        ForwardSink,
        bind_socket,
        receiver_app,
        serve_receiver,
    )

    if (forward is None) == (database is None):
        raise UsageError("give one of --forward URL (a render's receiver) or --database URL")
    key = load_key()
    sink: Any
    if forward is not None:
        target = check_callback_url(forward, "--forward")  # before anything is opened
        sink = ForwardSink(key, target)
        where = f"forwarding to {sink.target}"
    else:
        from storyboard.fleet.callbacks import EngineSink
        from storyboard.fleet.engine import check_database_url, open_client, shown_url

        url = check_database_url(database or "")
        sink = EngineSink(open_client(url))
        where = f"handing notices to the workflows of {shown_url(url)}"
    sock = bind_socket(Listen(host, port))
    bound = Listen(host, sock.getsockname()[1])
    path = "/" + prefix.strip("/") if prefix.strip("/") else ""
    click.echo(f"callback receiver on http://{bound}{path}/<task>/<token>, {where}", err=True)

    async def serve() -> None:
        async with sink:
            await serve_receiver(receiver_app(key, sink, prefix=path), sock)

    asyncio.run(serve())


COMMANDS: tuple[click.Command, ...] = (callback_server,)
