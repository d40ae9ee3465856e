"""The built-in transaction compilers: which lines of a sale are qualifying revenue.

* ``line_items`` — product lines, narrowed by the distributor's line-item filters
  (``skus``, ``categories``, ``types``: a product line must match every filter given);
* ``discounts`` — discount lines (subtracted); a discount naming a sku, category or type
  that the filters exclude is left out with the product it discounted;
* ``fees``, ``shipping``, ``taxes`` — lines of that kind, in full.

A distributor enables them in its ``revenue`` table; the default is
``["line_items", "discounts"]`` (net product revenue).
"""

from __future__ import annotations

from siren_core import hookimpl
from siren_core.records import CompilerContext, RevenueLine, TransactionCompiler


def passes_filters(line: RevenueLine, context: CompilerContext) -> bool:
    """Whether ``line`` matches every line-item filter of the distributor."""
    return ((not context.skus or line.sku in context.skus)
            and (not context.categories or line.category in context.categories)
            and (not context.types or line.type in context.types))


def _targets_a_line(line: RevenueLine) -> bool:
    return line.sku is not None or line.category is not None or line.type is not None


def line_items(line: RevenueLine, context: CompilerContext) -> bool:
    return line.kind == "product" and passes_filters(line, context)


def discounts(line: RevenueLine, context: CompilerContext) -> bool:
    if line.kind != "discount":
        return False
    return not _targets_a_line(line) or passes_filters(line, context)


def _of_kind(kind: str) -> TransactionCompiler:
    names = {"fee": "fees", "shipping": "shipping", "tax": "taxes"}
    return TransactionCompiler(id=names[kind], description=f"Every {kind} line, in full",
                               includes=lambda line, _context: line.kind == kind)


@hookimpl
def siren_transaction_compilers() -> list[TransactionCompiler]:
    return [
        TransactionCompiler(id="line_items", includes=line_items,
                            description="Product lines matching the line-item filters"),
        TransactionCompiler(id="discounts", includes=discounts,
                            description="Discount lines, subtracted from revenue"),
        _of_kind("fee"), _of_kind("shipping"), _of_kind("tax"),
    ]
