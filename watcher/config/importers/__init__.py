"""Targets from other tools' files: urlwatch, changedetection.io, Distill, OPML, URL lists.

Each reader turns one tool's file into target mappings in ``targets.yaml``'s
shape, and a ``Note`` for every setting that has no equivalent here (which job,
which setting, why). ``import_targets`` detects the format, gives each target a
unique ``[a-z0-9-]`` name and validates it with the config loader itself, so
what is written is what ``watcher validate`` accepts.
"""

from watcher.config.importers.common import Imported, Note
from watcher.config.importers.importing import FORMATS, import_targets, import_text, read_upload
from watcher.config.importers.writing import append_targets, targets_yaml

__all__ = [
    "FORMATS",
    "Imported",
    "Note",
    "append_targets",
    "import_targets",
    "import_text",
    "read_upload",
    "targets_yaml",
]
