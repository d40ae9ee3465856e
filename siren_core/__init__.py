"""siren-core: an embeddable, plugin-based engine for scheduled collaborator rewards.

``Kernel`` is imported on first use (PEP 562): ``siren --version``, ``siren --help`` and a
plugin importing ``hookimpl`` do not pay for the store (SQLAlchemy, SQLModel, Alembic).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from siren_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from siren_core.kernel import Kernel

try:
    __version__ = version("siren-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Kernel", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "Kernel":
        from siren_core.kernel import Kernel

        return Kernel
    raise AttributeError(f"module 'siren_core' has no attribute {name!r}")
