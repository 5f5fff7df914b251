"""The filter graph as argument lists: hard cuts, fades, xfades, music and ducking.

Pure: pieces are built in code and the argument lists are read, never run
(tests/film/test_stitch.py runs them on real clips). A graph is read as its
filters without the stream labels, so a test says which filters the film
goes through, with which exact options, in which order.
"""

from __future__ import annotations

import re
from pathlib import Path

from storyboard.film import graph
from storyboard.film.graph import (
    X264,
    Encoding,
    Gain,
    Piece,
    check_args,
    concat_list,
    copy_args,
    encode_args,
    film_frames,
    loudness_args,
    mux_args,
    segment_args,
    sound_args,
)
from storyboard.language.montage import Audio

A, B, C = Path("/clips/a.mp4"), Path("/clips/b.mp4"), Path("/clips/c.mp4")
SIZE = (640, 360)
ENC = Encoding(SIZE, crf=20, preset="veryfast", audio_bitrate="192k")
OUT = Path("/build/film.mp4")


def music(
    *, loop: bool = True, duck: bool = False, fade_in: float = 0.0, fade_out: float = 0.0
) -> Audio:
    """The music bed under the film (the one place its type is named)."""
    return Audio("/score.wav", 0.5, fade_in, fade_out, loop, duck)


def filters(args: list[str]) -> list[str]:
    """The filter graph's filters in order, stream labels taken out."""
    chain = args[args.index("-filter_complex") + 1]
    return [re.sub(r"\[[^\]]*\]", "", f) for f in chain.split(";")]


def inputs(args: list[str]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == "-i"]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_film_frames_are_every_pieces_frames_less_the_overlaps() -> None:
    pieces = [
        Piece(A, SIZE, True, 0, 48),
        Piece(B, SIZE, True, 0, 24, "fade", fade_in=6),
        Piece(C, SIZE, True, 0, 48, "overlap", "wipeleft", overlap=12),
    ]
    assert film_frames(pieces) == 48 + 24 + 48 - 12


def test_hard_cuts_trim_pad_and_concatenate_each_piece_exactly() -> None:
    a = Piece(A, SIZE, True, start=0, frames=48)
    b = Piece(B, (320, 180), False, start=12, frames=24)  # trimmed, smaller, silent
    args = encode_args([a, b], None, None, ENC, OUT)
    # Pictures, then each piece's sound: a's from its own file (no picture demuxed),
    # b's from silence.
    assert args[: args.index("-filter_complex")] == [
        *("-i", str(A), "-i", str(B)),
        *("-discard:v", "all", "-i", str(A)),
        *("-f", "lavfi", "-i", graph.SILENCE),
    ]
    assert filters(args) == [
        "fps=24",
        "trim=end_frame=48:start_frame=0",
        "setpts=N/24/TB",
        "setsar=1",
        "format=yuv420p",
        "tpad=stop=2:stop_mode=clone",
        "trim=end_frame=48",
        "setpts=N/24/TB",
        "fps=24",
        "trim=end_frame=36:start_frame=12",
        "setpts=N/24/TB",
        "scale=640:360:force_divisible_by=2:force_original_aspect_ratio=decrease",
        "pad=640:360:(ow-iw)/2:(oh-ih)/2:color=black",
        "setsar=1",
        "format=yuv420p",
        "tpad=stop=2:stop_mode=clone",
        "trim=end_frame=24",
        "setpts=N/24/TB",
        "concat=a=0:n=2:v=1",
        "settb=1/24",
        "aresample=48000:first_pts=0",
        "aformat=channel_layouts=stereo:sample_fmts=fltp:sample_rates=48000",
        "atrim=end_sample=96000:start_sample=0",
        "apad=whole_len=96000",
        "atrim=end_sample=96000",
        "asetpts=N/48000/TB",
        "aresample=48000:first_pts=0",
        "aformat=channel_layouts=stereo:sample_fmts=fltp:sample_rates=48000",
        "atrim=end_sample=72000:start_sample=24000",  # the trim's start, to the sample
        "apad=whole_len=48000",
        "atrim=end_sample=48000",
        "asetpts=N/48000/TB",
        "concat=a=1:n=2:v=0",
        "aformat=channel_layouts=stereo:sample_fmts=fltp:sample_rates=48000",
    ]
    assert (option(args, "-vcodec"), option(args, "-crf"), option(args, "-preset")) == (
        "libx264",
        "20",
        "veryfast",
    )
    assert (option(args, "-r"), option(args, "-pix_fmt"), option(args, "-b:a")) == (
        "24",
        "yuv420p",
        "192k",
    )
    assert args[-2:] == [str(OUT), "-y"]


def test_a_fade_through_black_fades_picture_and_sound_on_both_sides() -> None:
    a = Piece(A, SIZE, True, 0, 48, fade_out=6)
    b = Piece(B, SIZE, True, 0, 48, "fade", fade_in=6)
    chain = filters(encode_args([a, b], None, None, ENC, OUT))
    assert "fade=nb_frames=6:start_frame=42:type=out" in chain
    assert "fade=nb_frames=6:start_frame=0:type=in" in chain
    assert "afade=ns=12000:ss=84000:type=out" in chain
    assert "afade=ns=12000:ss=0:type=in" in chain
    assert chain.count("concat=a=0:n=2:v=1") == 1  # joined end to end: nothing overlaps
    assert not [f for f in chain if f.startswith(("xfade", "acrossfade"))]


def test_overlaps_xfade_the_picture_and_crossfade_the_sound_at_the_right_frame() -> None:
    pieces = [
        Piece(A, SIZE, True, 0, 48),
        Piece(B, SIZE, True, 0, 24),  # a hard cut: one run with a
        Piece(C, SIZE, True, 0, 48, "overlap", "wipeleft", overlap=12),
        Piece(A, SIZE, True, 0, 48, "overlap", "fade", overlap=6),
    ]
    args = encode_args(pieces, None, None, ENC, OUT)
    chain = filters(args)
    # The run a+b lasts 72 frames; c overlaps its last 12, so it starts at frame 60.
    # The film is then 108 frames long; the last piece overlaps its last 6.
    assert [f for f in chain if f.startswith("xfade")] == [
        "xfade=duration=0.5:offset=2.5:transition=wipeleft",
        "xfade=duration=0.25:offset=4.25:transition=fade",
    ]
    assert [f for f in chain if f.startswith("acrossfade")] == [
        "acrossfade=c1=qsin:c2=qsin:ns=24000",
        "acrossfade=c1=qsin:c2=qsin:ns=12000",
    ]
    # Every use of a clip opens its own input (a is used twice: no shared decoder).
    assert inputs(args).count(str(A)) == 4
    assert option(args, "-thread_queue_size") == str(graph.INPUT_QUEUE + 1)


def test_music_lies_under_the_clips_looped_faded_and_cut_to_the_film() -> None:
    a = Piece(A, SIZE, True, 0, 48)
    report = Path("/build/loudness.txt")
    args = loudness_args([a], music(fade_in=1.0, fade_out=0.5), report)
    assert args[args.index("/score.wav") - 3 : args.index("/score.wav")] == [
        "-stream_loop",
        "-1",
        "-i",
    ]
    chain = filters(args)
    assert chain[6:] == [
        "aformat=channel_layouts=stereo:sample_fmts=fltp:sample_rates=48000",
        "apad=whole_len=96000",
        "atrim=end_sample=96000",
        "asetpts=N/48000/TB",
        "volume=0.5",
        "afade=ns=48000:ss=0:type=in",
        "afade=ns=24000:ss=72000:type=out",
        "amix=dropout_transition=0:duration=first:inputs=2:normalize=0",
        "ebur128=metadata=1:peak=true",
        f"ametadata=file={report}:mode=print",
    ]
    assert args[-3:] == ["-f", "null", "-"]  # measured, nothing written
    assert "-acodec" not in args and "-vcodec" not in args


def test_music_without_loop_is_read_once_and_fades_never_pass_the_film() -> None:
    a = Piece(A, SIZE, True, 0, 24)
    args = loudness_args([a], music(loop=False, fade_in=5.0, fade_out=5.0), Path("/r.txt"))
    assert "-stream_loop" not in args
    chain = filters(args)
    assert "afade=ns=48000:ss=0:type=in" in chain  # the whole film, not 5 s
    assert "afade=ns=48000:ss=0:type=out" in chain


def test_ducking_keys_the_music_on_the_clips_own_sound() -> None:
    a = Piece(A, SIZE, True, 0, 48)
    plain = filters(loudness_args([a], music(), Path("/r.txt")))
    ducked = filters(loudness_args([a], music(duck=True), Path("/r.txt")))
    assert not [f for f in plain if f.startswith(("asplit", "sidechaincompress"))]
    duck = "sidechaincompress=attack=20:ratio=8:release=400:threshold=0.02"  # graph's DUCK_*
    mix = "amix=dropout_transition=0:duration=first:inputs=2:normalize=0"
    # The clips' sound split in two: one copy keys the compressor on the music, the
    # other is mixed with the music it ducked.
    assert ducked.index("asplit=2") < ducked.index(duck) < ducked.index(mix)


def test_loudness_correction_is_a_gain_then_a_limiter_with_no_lookahead() -> None:
    a = Piece(A, SIZE, True, 0, 48)
    chain = filters(encode_args([a], None, Gain(-3.25, 0.89), ENC, OUT))
    assert chain[-3:] == [
        "volume=-3.250dB",
        "alimiter=latency=1:level=0:limit=0.89",
        "aformat=channel_layouts=stereo:sample_fmts=fltp:sample_rates=48000",
    ]
    untouched = filters(encode_args([a], None, Gain(0.0), ENC, OUT))
    assert not [f for f in untouched if f.startswith(("volume", "alimiter"))]


def test_a_stream_copy_maps_the_concat_demuxers_video_and_rebuilds_the_sound() -> None:
    pieces = [Piece(A, SIZE, True, 0, 48), Piece(B, SIZE, False, 0, 24)]
    listing = Path("/build/concat.txt")
    args = copy_args(pieces, None, None, ENC, listing, OUT)
    assert args[:6] == ["-f", "concat", "-safe", "0", "-i", str(listing)]
    assert inputs(args) == [str(listing), str(A), graph.SILENCE]
    assert args[args.index("-map") : args.index("-map") + 2] == ["-map", "0:v"]
    assert option(args, "-vcodec") == "copy"
    assert "-crf" not in args and not [f for f in filters(args) if f.startswith("fps")]


def test_the_concat_list_gives_each_clip_its_exact_picture_length() -> None:
    pieces = [Piece(A, SIZE, True, 0, 48), Piece(Path("/clips/it's.mp4"), SIZE, True, 0, 25)]
    assert concat_list(pieces) == (
        "ffconcat version 1.0\n"
        "file '/clips/a.mp4'\n"
        "duration 2.0\n"
        "file '/clips/it'\\''s.mp4'\n"
        "duration 1.0416666666666667\n"
    )


def test_the_check_decodes_everything_and_keeps_the_chosen_frames() -> None:
    args = check_args(OUT, [30, 3, 30, 10], 20, 160, Path("/build/thumbs"), Path("/build/p.png"))
    assert args[:3] == ["-xerror", "-threads", "0"]
    chain = filters(args)
    assert chain == [
        "split=2",
        "select=eq(n\\,3)+eq(n\\,10)+eq(n\\,30)",
        "scale=160:-2",
        "select=eq(n\\,20)",
    ]
    assert "/build/thumbs/%03d.png" in args and "/build/p.png" in args
    assert args[args.index("/build/p.png") - 2 : args.index("/build/p.png")] == ["-update", "1"]


def test_a_segment_is_the_full_graphs_picture_alone_with_the_clips_x264_settings() -> None:
    pieces = [Piece(A, SIZE, True, 30, 18), Piece(B, SIZE, True, 0, 24, "overlap", overlap=6)]
    args = segment_args(pieces, SIZE, X264("ultrafast", "23", keyint=24), OUT)
    assert inputs(args) == [str(A), str(B)]  # no sound is read or written
    assert "-acodec" not in args and not [f for f in filters(args) if f.startswith("a")]
    assert filters(args)[:2] == ["fps=24", "trim=end_frame=48:start_frame=30"]
    assert [f for f in filters(args) if f.startswith("xfade")] == [
        "xfade=duration=0.25:offset=0.5:transition=fade"
    ]
    assert [option(args, o) for o in ("-vcodec", "-preset", "-crf", "-g", "-r")] == [
        "libx264", "ultrafast", "23", "24", "24"
    ]  # fmt: skip
    assert "-g" not in segment_args(pieces, SIZE, X264("medium", "18"), OUT)


def test_a_smart_render_encodes_the_sound_alone_then_copies_both_into_the_film() -> None:
    pieces = [Piece(A, SIZE, True, 0, 48), Piece(B, SIZE, False, 12, 24, "overlap", overlap=6)]
    sound = Path("/build/sound.m4a")
    args = sound_args(pieces, None, None, ENC, sound)
    assert inputs(args) == [str(A), graph.SILENCE]  # sound-only inputs: no picture decoded
    assert option(args, "-acodec") == "aac" and "-vcodec" not in args
    assert [f for f in filters(args) if f.startswith("acrossfade")] == [
        "acrossfade=c1=qsin:c2=qsin:ns=12000"
    ]
    picture = Path("/build/picture.mp4")
    muxed = mux_args(picture, sound, OUT)
    assert inputs(muxed) == [str(picture), str(sound)] and "-filter_complex" not in muxed
    assert option(muxed, "-vcodec") == "copy" and option(muxed, "-acodec") == "copy"
    assert option(muxed, "-movflags") == "+faststart"
