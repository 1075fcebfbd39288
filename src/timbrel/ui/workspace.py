"""The folder the web UI reads from and writes to, and the guard that keeps typed paths inside it.

A path typed into the page is untrusted: it is resolved (``..`` collapsed, symlinks followed)
and refused unless the result lies under the workspace root. Names typed for new things
(datasets, experiments, models) are single folder names, never paths.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from timbrel.core.errors import BadInputError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def plain_name(name: str | None) -> str:
    """A name typed for something new, refused unless it is one safe folder name."""
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise BadInputError(
            name or "(empty)",
            "a name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Workspace:
    """root: an absolute, resolved folder. Layout:

    uploads/<run>/       copies of files uploaded through the page
    datasets/<name>/     RIFT datasets (one sub-folder per speaker, meta_info.json)
    experiments/<name>/  RVC experiments (0_gt_wavs ... 3_feature768, index, training logs)
    models/<name>/       voice models: an RVC .pth with its .index, or a RIFT .ckpt
    outputs/<run>/       conversions
    """

    root: Path

    @classmethod
    def create(cls, root: str | Path) -> Workspace:
        root = Path(root).expanduser().resolve()
        for folder in ("uploads", "datasets", "experiments", "models", "outputs"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        return cls(root)

    def path(self, text: str | Path, *, must_exist: bool = False) -> Path:
        """A typed path (relative to the root, or absolute) -> the resolved path, refused unless
        it lies inside the workspace once ``..`` and symlinks are resolved."""
        text = str(text).strip()
        if not text:
            raise BadInputError(self.root, "no path given")
        if "\0" in text:
            raise BadInputError(text.replace("\0", "\\0"), "a path cannot contain a NUL character")
        given = Path(text)
        resolved = (given if given.is_absolute() else self.root / given).resolve()
        if not resolved.is_relative_to(self.root):
            raise BadInputError(
                given, f"is outside the workspace {self.root}; only paths inside it can be used here"
            )
        if must_exist and not resolved.exists():
            raise BadInputError(given, "no such file or folder in the workspace")
        return resolved

    def relative(self, path: Path) -> str:
        """How the page shows a workspace path."""
        return str(Path(path).resolve().relative_to(self.root))

    def named(self, folder: str, name: str) -> Path:
        """``folder/name`` for a new dataset, experiment or model; ``name`` must be a plain name."""
        return self.path(Path(folder) / plain_name(name))

    def children(self, folder: str) -> list[str]:
        """Names of the sub-folders of ``folder``, sorted."""
        return sorted(p.name for p in (self.root / folder).iterdir() if p.is_dir())

    def files(self, folder: str, suffixes: tuple[str, ...]) -> list[str]:
        """Workspace-relative paths of the files under ``folder`` with one of ``suffixes``, sorted;
        hidden files and folders (ledgers, temporary files) are left out."""
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(
            self.relative(p)
            for p in base.rglob("*")
            if p.is_file()
            and p.suffix.lower() in suffixes
            and not any(part.startswith(".") for part in p.relative_to(base).parts)
        )

    def new_run(self, folder: str, label: str = "") -> Path:
        """A fresh folder ``folder/<UTC time>[-label]`` (with a counter when the second is taken)."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._")[:60]
        base = f"{stamp}-{label}" if label else stamp
        for count in range(1000):
            run = self.root / folder / (base if count == 0 else f"{base}-{count}")
            try:
                run.mkdir(parents=True)
                return run
            except FileExistsError:
                continue
        raise BadInputError(self.root / folder, "cannot create a new run folder")

    def take_uploads(self, uploads: list[str | Path], target: Path) -> list[Path]:
        """Copy uploaded files (gradio's temporary copies) into ``target`` under their own names."""
        target.mkdir(parents=True, exist_ok=True)
        taken = []
        for upload in uploads:
            source = Path(upload)
            copy = target / source.name
            shutil.copyfile(source, copy)
            taken.append(copy)
        return taken
