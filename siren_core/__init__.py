"""siren-core: an embeddable, plugin-based engine for scheduled collaborator rewards."""

from importlib.metadata import PackageNotFoundError, version

from siren_core.hookspecs import hookimpl
from siren_core.kernel import Kernel

try:
    __version__ = version("siren-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Kernel", "__version__", "hookimpl"]
