"""fairseq checkpoints (hubert_base.pt), read without running them.

They pickle fairseq and omegaconf objects besides their tensors. They are read with torch's
weights-only unpickler, with those classes (found by disassembling the pickle, which runs nothing)
standing for inert placeholders that only hold the pickled data. Any other class or function in
the pickle refuses the file.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import pickletools
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from timbrel.core.errors import BadInputError
from timbrel.weights.torch_file import check_torch_layout, read_torch_file

WHAT = "fairseq checkpoint"


class InertObject:
    """Stands for an object of a foreign library in a pickle: it keeps the pickled arguments and
    state and runs nothing (no __init__, __setstate__ or __reduce__ of the real class)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> InertObject:
        inert = object.__new__(cls)
        inert.args = args
        inert.state = None
        return inert

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {type(self).__module__}.{type(self).__qualname__}>"


# Libraries whose objects hubert_base.pt pickles beside its tensors (config, task state, meters).
_INERT_MODULE_PREFIXES = ("fairseq.", "omegaconf.", "typing.")
_INERT_GLOBALS = frozenset(
    {
        "argparse.Namespace",
        "typing.Any",
        "_operator.getitem",  # typing.Optional[...] pickles as getitem(Union, (...))
        "operator.getitem",
        # type objects in omegaconf's node metadata (element and reference types)
        "builtins.type",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.object",
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
    }
)


def _is_inert_global(full_name: str) -> bool:
    return full_name in _INERT_GLOBALS or full_name.startswith(_INERT_MODULE_PREFIXES)


def read_fairseq_checkpoint(path: str | Path) -> Any:
    """The object a fairseq checkpoint pickles, with foreign config/task objects as InertObject.

    Refuses (BadInputError naming them) a file whose pickle references any class or function
    other than torch's tensor machinery, plain containers and those config classes.
    """
    path = Path(path)
    check_torch_layout(path, WHAT)
    globals_in_file = _pickle_globals(path)
    allowed = _allowed_by_torch()
    refused = sorted(g for g in globals_in_file if g not in allowed and not _is_inert_global(g))
    if refused:
        raise BadInputError(
            path, f"refused: its pickle references {', '.join(refused)}, which a weights file never needs"
        )
    placeholders = [(_inert_class(name), name) for name in sorted(globals_in_file) if name not in allowed]
    return read_torch_file(path, WHAT, safe_globals=placeholders)


def _inert_class(full_name: str) -> type:
    module, _, name = full_name.rpartition(".")
    return type(name, (InertObject,), {"__module__": module, "__qualname__": name})


def _allowed_by_torch() -> set[str]:
    """Globals torch's weights-only unpickler accepts by itself (tensor rebuilding, storages)."""
    from torch._weights_only_unpickler import _get_allowed_globals

    return set(_get_allowed_globals())


def _pickle_globals(path: Path) -> set[str]:
    """Every GLOBAL a torch checkpoint's pickle names, found by disassembly (nothing is executed)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                records = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if len(records) != 1:
                    raise BadInputError(path, f"not a readable {WHAT}: expected one data.pkl record")
                return _globals_in_stream(io.BytesIO(archive.read(records[0])), pickles=1)
        with open(path, "rb") as stream:
            # legacy torch.save: magic number, protocol, system info, then the object
            return _globals_in_stream(stream, pickles=4)
    except (pickle.UnpicklingError, ValueError, EOFError, OSError, zipfile.BadZipFile) as error:
        raise BadInputError(path, f"not a readable {WHAT}: {error}") from error


def _globals_in_stream(stream: Any, pickles: int) -> set[str]:
    found: set[str] = set()
    for _ in range(pickles):
        for opcode, arg, _position in pickletools.genops(stream):
            if opcode.name == "GLOBAL":
                module, name = str(arg).split(" ", 1)
                # protocol-2 pickles name Python 2 modules; read them as torch's unpickler does
                if (module, name) in _compat_pickle.NAME_MAPPING:
                    module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                else:
                    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
                found.add(f"{module}.{name}")
            elif opcode.name in ("STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"):
                raise pickle.UnpicklingError(f"pickle opcode {opcode.name} is not accepted in a weights file")
    return found


def plain_config(value: Any) -> Any:
    """Plain data from pickled config objects (omegaconf containers and nodes, argparse namespaces,
    enum members); anything else becomes None."""
    if isinstance(value, Mapping):
        return {key: plain_config(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_config(item) for item in value]
    if isinstance(value, InertObject):
        state = value.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]
        if isinstance(state, dict):
            if "_content" in state:
                return plain_config(state["_content"])
            if "_val" in state:
                return plain_config(state["_val"])
            return plain_config(state)
        if len(value.args) == 1:
            return plain_config(value.args[0])
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return None
