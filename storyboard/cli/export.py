"""`storyboard export`: the film's cut as a timeline an editor opens."""

from __future__ import annotations

from pathlib import Path

import click

from storyboard.cli.common import (
    BUILD_DIR,
    build_dir_of,
    compile_or_report,
    existing_file,
    friendly,
)

FORMAT_NAMES = ("otio", "fcpxml", "fcp7", "edl", "mlt")


@click.command(name="export")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_NAMES),
    default="otio",
    show_default=True,
    help="otio: OpenTimelineIO (Resolve, Kdenlive); fcpxml: Final Cut Pro; "
    "fcp7: FCP 7 XML (Premiere, Resolve); edl: CMX 3600 (Avid, any editor); "
    "mlt: MLT XML (Shotcut, Kdenlive, melt).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The timeline file (default: <stem>.<format> in the build folder, or in --collect).",
)
@click.option(
    "--collect",
    type=click.Path(file_okay=False),
    help="Copy the cut's clips and the music into this folder and write the timeline "
    "there: a folder to hand to an editor on another machine.",
)
@click.option("--link", is_flag=True, help="With --collect, hard-link the files, not copy them.")
@BUILD_DIR
@friendly
def export_command(
    storyboard: str,
    fmt: str,
    output: str | None,
    collect: str | None,
    link: bool,
    build_dir: str | None,
) -> None:
    """Export the rendered film's cut for an editor: clips with their trims and
    chosen takes, transitions, the clips' sound, the music bed, and a marker per
    shot with its prompt. Renders nothing: run `storyboard render` first."""
    from storyboard.errors import UsageError
    from storyboard.export import FORMATS, default_output, export

    if link and collect is None:
        raise UsageError("--link hard-links what --collect gathers: give --collect DIR")
    path = existing_file(storyboard)
    chosen = FORMATS[fmt]
    build = build_dir_of(path, build_dir)
    folder = Path(collect) if collect is not None else None
    out = Path(output) if output else default_output(path, build, chosen, folder)
    done = export(compile_or_report(path), path, build, chosen, out, collect=folder, link=link)
    click.echo(
        f"{done.path}: {chosen.label}, {done.frames / 24:.2f} s ({done.frames} frames at 24 fps), "
        f"{done.clips} clip(s), {done.transitions} transition(s), {done.markers} shot marker(s)"
    )
    if chosen.drops:
        click.echo(f"{chosen.label} does not carry: {chosen.drops} (docs/export.md)")
    if done.collected:
        how = f"{done.linked} hard-linked, {len(done.collected) - done.linked} copied"
        click.echo(f"collected {len(done.collected)} file(s) into {folder} ({how})")


COMMANDS: tuple[click.Command, ...] = (export_command,)
