"""A griffe extension for the reference pages (docs/reference/, mkdocs.yml): our
docstrings are written in the small reST subset of ``siren_core.cli.docgen``
(````literal````, ``:class:`~a.B```` roles, ``::`` blocks); it turns each into Markdown
before mkdocstrings renders it, with the converter the generated plugin pages use."""

from __future__ import annotations

from typing import Any

import griffe

from siren_core.cli.docgen import rst_to_markdown


class RstDocstrings(griffe.Extension):
    """Rewrites every loaded object's docstring from our reST subset to Markdown."""

    def on_object(self, *, obj: griffe.Object, **_kwargs: Any) -> None:
        if obj.docstring is not None and obj.docstring.value.strip():
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
