"""Backends: what turns a task payload into a clip, behind one interface (`Backend`).

`preview` renders animatics locally (no network, no key, no cost); `kirin`
calls the real API. The executor receives a `Backend` and never asks which
one it has; the CLI picks one with `create_backend`, and the spend gate
(`storyboard.spend`) asks it what it costs and what it can read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyboard.errors import UsageError
from storyboard.run.backends.base import (
    Backend,
    Outcome,
    RemoteTask,
    StatusCallback,
    attempt_external_id,
)

if TYPE_CHECKING:
    from storyboard.run.backends.preview_cards import PlanLike
    from storyboard.run.cache import ClipCache
    from storyboard.run.callbacks import CallbackHub

BACKENDS = ("preview", "kirin")


def create_backend(
    name: str,
    *,
    work_dir: Path,
    base_url: str | None = None,
    plan: PlanLike | None = None,
    callbacks: CallbackHub | None = None,
    **options: Any,
) -> Backend:
    """The backend called `name`.

    `work_dir` is where the preview backend keeps its renders (the build
    directory's scratch folder); `base_url` is kirin's provider (else the
    profile's or `$KIRIN_BASE_URL`); `options` go to the backend's constructor
    (kirin: `profile`, `api_key`); `plan` lets the preview's cards name assets and
    tell the film's time (kirin's requests never depend on it); `callbacks` is the
    hub of provider callbacks (R22, kirin only: the preview sends none). Imports
    are lazy so that the preview path never loads the HTTP client.
    """
    if name == "preview":
        from storyboard.run.backends.preview import PreviewBackend

        if callbacks is not None:
            raise UsageError(
                "callbacks need --backend kirin: the preview renders here and calls nobody back"
            )
        return PreviewBackend(work_dir, plan, **options)
    if name == "kirin":
        from storyboard.provider.profile import load_profile
        from storyboard.run.backends.kirin import KirinBackend

        if "profile" not in options:
            options["profile"] = load_profile(base_url=base_url)
        return KirinBackend(callbacks=callbacks, **options)
    raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def backend_source(name: str, base_url: str | None = None) -> str:
    """The cache source `name` renders into, without opening the backend (no key
    needed): what `storyboard plan` asks to show what is cached for it."""
    if name == "preview":
        from storyboard.run.backends.preview import PreviewBackend

        return PreviewBackend.source
    if name == "kirin":
        from storyboard.provider.profile import load_profile
        from storyboard.run.backends.kirin import provider_source

        return provider_source(load_profile(base_url=base_url))
    raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def backend_variants(name: str, plan: PlanLike) -> dict[str, str]:
    """What, beyond the request, each task's clip depends on with backend `name`
    (`Backend.variants`), without opening it: the preview's card notes."""
    if name == "preview":
        from storyboard.run.backends.preview import PreviewBackend

        return PreviewBackend.variants_for(plan)
    return {}


def backend_shelf(
    cache: ClipCache, name: str, plan: PlanLike, base_url: str | None = None
) -> ClipCache:
    """`cache` as backend `name` sees it for `plan`: its source and its variants."""
    return cache.for_source(backend_source(name, base_url), backend_variants(name, plan))


__all__ = [
    "BACKENDS",
    "Backend",
    "Outcome",
    "RemoteTask",
    "StatusCallback",
    "attempt_external_id",
    "backend_shelf",
    "backend_source",
    "backend_variants",
    "create_backend",
]
