"""Import open_clip without paying for ``torch._dynamo``.

Importing open_clip loads the whole TorchDynamo compiler stack (about 1.2 s of a one-image
``provenance trace`` on a 2-core machine) through two import-time lines elsewhere: torchvision's
``ops.roi_align`` runs ``from torch._dynamo.utils import is_compile_supported``, and timm decorates
methods with ``@torch.compiler.disable``, which imports ``torch._dynamo`` to wrap them. Neither is
needed to build or run a CLIP model eagerly. While open_clip is first imported:

* a stand-in ``torch._dynamo.utils`` module supplies ``is_compile_supported``, which imports the real
  function on first call; any other name asked of it loads the real module at once;
* ``torch.compiler.disable`` wraps functions lazily: the real ``disable`` is applied on first call.

Both are undone as soon as the import ends, so any later ``import torch._dynamo`` gets the real
package; and if the import fails with them in place it is retried without them: the trick can cost
time, never correctness.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
import types

_lock = threading.Lock()
_SHIM = "torch._dynamo.utils"


def is_compile_supported(device_type):  # same signature as torch._dynamo.utils.is_compile_supported
    from torch._dynamo.utils import is_compile_supported as real

    return real(device_type)


def _real_utils():
    if sys.modules.get(_SHIM) is _stand_in:
        del sys.modules[_SHIM]
    return importlib.import_module(_SHIM)


def _other_name(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_real_utils(), name)


_stand_in = types.ModuleType(_SHIM, "stand-in while open_clip imports; see provenance.encoders.imports")
_stand_in.is_compile_supported = is_compile_supported
_stand_in.__getattr__ = _other_name  # PEP 562: names the stand-in lacks come from the real module


def _lazy_disable(real_disable):
    """A ``torch.compiler.disable`` that defers the real one (and its dynamo import) to the first call."""

    def disable(fn=None, recursive=True, **kwargs):
        if fn is None:
            return lambda f: disable(f, recursive, **kwargs)
        done = None

        @functools.wraps(fn)
        def wrapper(*args, **kw):
            nonlocal done
            if done is None:
                done = real_disable(fn, recursive, **kwargs)
            return done(*args, **kw)

        return wrapper

    return disable


def import_open_clip():
    """``import open_clip``, skipping the eager TorchDynamo import when nothing loaded it yet."""
    if "open_clip" in sys.modules:
        return sys.modules["open_clip"]
    with _lock:
        if "open_clip" in sys.modules:
            return sys.modules["open_clip"]
        if "torch._dynamo" in sys.modules or _SHIM in sys.modules:
            return importlib.import_module("open_clip")
        import torch.compiler

        real_disable = torch.compiler.disable
        sys.modules[_SHIM] = _stand_in
        torch.compiler.disable = _lazy_disable(real_disable)

        def undo() -> None:
            torch.compiler.disable = real_disable
            if sys.modules.get(_SHIM) is _stand_in:
                del sys.modules[_SHIM]

        try:
            return importlib.import_module("open_clip")
        except Exception:
            # Whatever went wrong, try once more the ordinary way (modules that failed half-way were
            # removed from sys.modules by the import system).
            undo()
            return importlib.import_module("open_clip")
        finally:
            undo()
