"""Provider callbacks (R22): the provider's notices wake a task's wait at once.

The kirin backend, given a `CallbackHub`, sends each task's `callback_url`
(`tokens`: the URL ends in a per-task HMAC token, so only its task's notices
get through) and sleeps on the hub between status queries, which it then makes
only as a slow fallback (`ProviderProfile.callback_poll`). A notice is a
wake-up and nothing more: the status query is the truth, so forged, stale,
duplicated, late or reordered notices cost at most a query each, and a lost
one costs the fallback's delay.

- `tokens`: the local secret, each task's token and URL.
- `address`: `--callback-url` and `--callback-listen`, checked.
- `hub`: the hand-off (`NoticeSink`, `CallbackHub`) and the in-process `LocalHub`.
- `receiver`: the ASGI receiver, its servers (in a render's loop, or in the
  foreground for `storyboard callback-server`) and `ForwardSink`.

Imports httpx, starlette and uvicorn only in `receiver`, which `LocalHub`
loads when it starts serving.
"""

from storyboard.run.callbacks.address import Listen
from storyboard.run.callbacks.hub import CallbackHub, LocalHub, NoticeSink
from storyboard.run.callbacks.tokens import SECRET_ENV, CallbackKey, key_file, load_key

__all__ = [
    "SECRET_ENV",
    "CallbackHub",
    "CallbackKey",
    "Listen",
    "LocalHub",
    "NoticeSink",
    "key_file",
    "load_key",
]
