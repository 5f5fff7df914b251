"""Lint speed on a 1,000-scene storyboard, next to a bare ruamel.yaml load and
check-jsonschema on the same file. Run by hand: `python bench/lint.py [SCENES]`.

Prints seconds (best of N runs) and the ratio lint / bare load (target: <= 2).
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

from storyboard.language.schema import STORYBOARD_SCHEMA
from storyboard.lint.engine import lint_file

RUNS = 3


def make_storyboard(path: Path, scenes: int) -> None:
    lines = [
        "storyboard: 1",
        "title: Benchmark",
        "defaults: {mode: std, aspect_ratio: '16:9'}",
        "vars:",
        "  style: cinematic, 35mm film grain",
        "assets:",
        "  hero: {element: 831204}",
        "  sky: {image: https://cdn.example.com/sky.png}",
        "scenes:",
    ]
    for i in range(scenes):
        if i % 3 == 0:
            lines += [
                f"  - id: s{i}",
                "    shots:",
                "      - {duration: 4, prompt: '{{ sky }} at dawn, {{ style }}'}",
                "      - {duration: 3, prompt: 'Close-up: <<<hero>>> turns'}",
                "      - {duration: 5, prompt: 'Wide shot of the harbour, scene {{ scene.id }}'}",
            ]
        elif i % 3 == 1:
            lines += [
                f"  - id: s{i}",
                f"    first_frame: {{from: s{i - 1}}}",
                f"    prompt: 'The storm moves in over <<<sky>>>, {{{{ style }}}} ({i})'",
                "    duration: 6",
            ]
        else:
            lines += [
                f"  - id: s{i}",
                "    shots:",
                *[f"      - {{duration: 3, prompt: 'beat {k} of a long scene'}}" for k in range(8)],
            ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def best(fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    scenes = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "storyboard.yaml"
        make_storyboard(path, scenes)
        text = path.read_text()
        bare = best(lambda: YAML(typ="rt").load(text))
        lint = best(lambda: lint_file(path))
        problems = lint_file(path).problems
        cjs_cmd = [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(STORYBOARD_SCHEMA),
            str(path),
        ]
        cjs = best(lambda: subprocess.run(cjs_cmd, capture_output=True, check=False))
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(f"storyboard: {scenes} scenes, {len(text)} bytes, {len(problems)} problems")
    print(f"bare ruamel.yaml round-trip load: {bare:.3f} s")
    print(f"storyboard lint (load+schema+rules): {lint:.3f} s  ratio {lint / bare:.2f}x")
    print(f"check-jsonschema (schema only, own process): {cjs:.3f} s  ratio {cjs / bare:.2f}x")


if __name__ == "__main__":
    main()
