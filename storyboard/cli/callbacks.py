"""`storyboard callback-server`: a standalone receiver of provider callbacks."""

from __future__ import annotations

import click

from storyboard.cli.common import friendly


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
    required=True,
    metavar="URL",
    help="Hand each verified notice on to the receiver at URL: a render's "
    "--callback-listen address with its --callback-url's path.",
)
@friendly
def callback_server(host: str, port: int, prefix: str, forward: str) -> None:
    """Receive provider callbacks (R22) and hand each verified one on.

    Answers POST <prefix>/<task>/<token> when the token is the task's (made with
    this machine's callback key, or $STORYBOARD_CALLBACK_SECRET: the renders it
    serves need the same), 404 to anything else, and forwards each notice to
    --forward (a 404 there is passed back; no answer is a 503). It has nobody
    waiting in its own process, so it needs a place to hand notices to: for now,
    a render's own receiver over HTTP. A render keeps polling as a fallback, so
    a notice lost here only costs time.
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

    target = check_callback_url(forward, "--forward")  # before anything is opened
    key = load_key()
    sock = bind_socket(Listen(host, port))
    sink = ForwardSink(key, target)
    bound = Listen(host, sock.getsockname()[1])
    path = "/" + prefix.strip("/") if prefix.strip("/") else ""
    click.echo(
        f"callback receiver on http://{bound}{path}/<task>/<token>, forwarding to {sink.target}",
        err=True,
    )

    async def serve() -> None:
        async with sink:
            await serve_receiver(receiver_app(key, sink, prefix=path), sock)

    asyncio.run(serve())


COMMANDS: tuple[click.Command, ...] = (callback_server,)
