"""Import open_clip without paying for ``torch._dynamo``.

open_clip imports torchvision, whose ``ops.roi_align`` runs ``from torch._dynamo.utils import
is_compile_supported`` at import time. That one line loads the whole TorchDynamo compiler stack:
about 1.2 s of a one-image ``provenance trace`` on a 2-core machine, for a function provenance never
reaches (ROI pooling). While open_clip is first imported, a stand-in ``torch._dynamo.utils`` module
supplies that name; it imports the real function on first call, and leaves ``sys.modules`` as soon
as the import is done, so any later ``import torch._dynamo`` gets the real package.
"""

from __future__ import annotations

import sys
import threading
import types

_lock = threading.Lock()
_SHIM = "torch._dynamo.utils"


def is_compile_supported(device_type):  # same signature as torch._dynamo.utils.is_compile_supported
    from torch._dynamo.utils import is_compile_supported as real

    return real(device_type)


def import_open_clip():
    """``import open_clip``, skipping the eager TorchDynamo import when nothing loaded it yet."""
    if "open_clip" in sys.modules:
        return sys.modules["open_clip"]
    with _lock:
        if "open_clip" in sys.modules:
            return sys.modules["open_clip"]
        import torch  # noqa: F401  (the real torch first: only the dynamo submodule is stood in for)

        shim = None
        if "torch._dynamo" not in sys.modules and _SHIM not in sys.modules:
            shim = types.ModuleType(_SHIM, "stand-in while open_clip imports; see provenance.encoders.imports")
            shim.is_compile_supported = is_compile_supported
            sys.modules[_SHIM] = shim
        try:
            import open_clip
        finally:
            if shim is not None and sys.modules.get(_SHIM) is shim:
                del sys.modules[_SHIM]
        return open_clip
