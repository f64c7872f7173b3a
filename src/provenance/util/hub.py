"""Talking to the Hugging Face hub without a minute of retries when the machine is offline."""

from __future__ import annotations

import logging
import os
import socket
import sys

NOISY_LOGGERS = ("", "huggingface_hub", "huggingface_hub.utils._http", "open_clip", "datasets")


def hub_reachable(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _set_offline_flags(value: bool) -> None:
    """huggingface_hub and datasets read their offline switches at import time: update the live copies."""
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = value
    ds = sys.modules.get("datasets.config")
    if ds is not None:
        ds.HF_HUB_OFFLINE = value
        if hasattr(ds, "HF_DATASETS_OFFLINE"):
            ds.HF_DATASETS_OFFLINE = value


class quiet_hub:
    """Silence download chatter; when the hub is unreachable, use only local caches (fails fast)."""

    def __enter__(self) -> "quiet_hub":
        self.forced = os.environ.get("HF_HUB_OFFLINE") is None and not hub_reachable()
        if self.forced:
            os.environ["HF_HUB_OFFLINE"] = "1"
            _set_offline_flags(True)
        self._levels = {}
        for name in NOISY_LOGGERS:
            lg = logging.getLogger(name)
            self._levels[name] = lg.level
            lg.setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *exc) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        if self.forced:
            os.environ.pop("HF_HUB_OFFLINE", None)
            _set_offline_flags(False)

    @staticmethod
    def offline() -> bool:
        return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE") or not hub_reachable()
