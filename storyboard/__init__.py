"""storyboard: a declarative storyboard-to-film pipeline for kirin_v3_omni_video."""

__version__ = "0.1.0"
