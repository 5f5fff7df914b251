"""Every exception storyboard raises on purpose, in one tree.

Foreign errors (ruamel, jsonschema, jinja2, httpx, av, PIL, ffmpeg, paths the
OS refuses, asyncio's exception groups) are translated into these at the
boundary where they arise, so callers catch only our own. The CLI maps
families to exit codes: input problems 1, usage/environment 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storyboard.problems import Problem


class StoryboardError(Exception):
    """Base of every error the tool raises on purpose."""


# --- usage and environment (exit 2) -----------------------------------------
class UsageError(StoryboardError):
    """The command line asked for something impossible."""


class EnvironmentProblem(StoryboardError):
    """The machine lacks something the command needs (ffmpeg, a key, a folder)."""


class CacheError(EnvironmentProblem):
    """The clip cache cannot be read or written (its folder, a key, a source)."""


# --- the storyboard itself (exit 1) -------------------------------------------
class InputProblems(StoryboardError):
    """The storyboard has problems; they travel with the error as data."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.is_error] or self.problems
        first = errors[0] if errors else None
        super().__init__(first.message if first else "storyboard has problems")


class FileRefused(StoryboardError):
    """A file the storyboard names is missing, not a regular file (a FIFO, a device,
    a directory) or cannot be opened; `reason` says which, without the path."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


class FileTooLarge(FileRefused):
    """A file holds more bytes than its bound; no more than the bound and one were read."""

    def __init__(self, path: object, size: int, limit: int) -> None:
        super().__init__(path, f"is {size} bytes; at most {limit} are read")
        self.size = size
        self.limit = limit


class CompilerBug(StoryboardError):
    """The compiler produced a payload the API would reject: never written, never sent."""


# --- prompt templates (lint turns them into problems at the prompt's line) -------
class TemplateFailure(StoryboardError):
    """A prompt failed to render: `kind` is syntax, undefined, sandbox or error;
    `line` is 1-based within the template; `needle` is text to find for a column."""

    def __init__(self, kind: str, message: str, line: int = 1, needle: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line
        self.needle = needle


class TemplateBound(StoryboardError):
    """A prompt went past a bound of bounds.py while it rendered (made a TemplateFailure)."""


# --- pricing --------------------------------------------------------------------
class PricingError(StoryboardError, ValueError):
    """A payload cannot be priced: an unknown mode (R17), a duration that is not whole
    seconds (R19), a base edit without its source's length (R15)."""


# --- media --------------------------------------------------------------------
class MediaError(StoryboardError):
    """A media file could not be read, written or verified."""


class FFmpegError(MediaError):
    """An ffmpeg run failed; the message carries the tail of its stderr."""


class ProbeError(MediaError):
    """A file could not be probed as audio/video (missing, truncated, not media)."""


class TooManyPixels(ProbeError):
    """An image's header declares more pixels than are ever decoded (a decompression bomb)."""


class StitchError(MediaError):
    """The film could not be cut from the clips."""


class VerificationError(StitchError):
    """The film was written but does not match the cut's arithmetic."""


class ExportError(StoryboardError):
    """The cut could not be exported for an editor (its clips, its music, the file)."""


# --- URL checks ------------------------------------------------------------------
class URLCheckError(StoryboardError):
    """A URL lint was asked to check was refused, did not answer in time, or failed."""


# --- providers ------------------------------------------------------------------
class BudgetRefused(StoryboardError):
    """A create would pass --max-cost (billed plus in flight, with this task); the
    message gives the figures. The take is skipped, nothing is sent for it."""


class ProviderError(StoryboardError):
    """A backend failed to turn a task into a clip."""

    transient = False


class TransientProviderError(ProviderError):
    """Worth retrying later: the same request may succeed."""

    transient = True


class ResourceInsufficient(TransientProviderError):
    """E1 (006001094): the provider is out of capacity; back off and lower concurrency."""


class TaskResponseError(TransientProviderError):
    """E2 (006001095): the task failed in a way the provider calls transient."""


class RateLimited(TransientProviderError):
    """HTTP 429; `retry_after` seconds if the provider said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(TransientProviderError):
    """HTTP 5xx from the provider."""


class ProviderTimeout(TransientProviderError):
    """The provider did not answer in time."""


class ConnectionLost(TransientProviderError):
    """The connection dropped before a full answer arrived."""


class MalformedResponse(TransientProviderError):
    """The provider answered with something that is not the documented shape."""


class DownloadError(TransientProviderError):
    """The clip download was incomplete or did not probe as the expected video."""


class PermanentProviderError(ProviderError):
    """Retrying the same request cannot help."""


class TaskCreationError(PermanentProviderError):
    """E3 (006001099): the provider rejected this payload."""


class AuthenticationError(PermanentProviderError):
    """HTTP 401/403: the API key is missing, wrong or not allowed."""


class TaskNotFound(PermanentProviderError):
    """HTTP 404: the provider does not know this task."""


class TaskMismatch(TaskNotFound):
    """The provider answered for a task id with a task that is not the one we sent
    (another external id, duration or mode: a restarted gateway reusing ids).
    Ours is as good as lost: the executor makes it again under a new id."""


class ClipMismatch(PermanentProviderError):
    """The provider's finished clip cannot be the one planned (its length, no picture),
    however often it is fetched: a clear failure, never a retry loop."""


class TaskFailed(PermanentProviderError):
    """The task reached `failed` with an error code we do not treat as transient."""


# --- running --------------------------------------------------------------------
class BudgetExceeded(StoryboardError):
    """The plan (or what is billed plus in flight) would pass --max-cost."""


class JournalError(StoryboardError):
    """The run journal could not be read or written."""


class CallbackUndeliverable(StoryboardError):
    """A callback receiver could not hand a verified notice on: the place it forwards
    to did not answer, or answered with an error (the receiver then answers 503)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with what it left: `str(exc)` says what is in flight, what
    is kept and what to run next (the money's state, which a bare "interrupted"
    leaves a user to guess). Not under the root, on purpose: an interrupt is no
    error of the storyboard, and every `except StoryboardError` (a watch that
    keeps watching) must let it through."""

    def __init__(self, left: str) -> None:
        super().__init__(left)
        self.left = left
