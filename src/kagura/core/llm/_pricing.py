"""What calls cost in US dollars: :class:`ModelPrice` per model, gathered in a :class:`PriceTable`.

::

    prices = PriceTable.default()                      # the dated table shipped with kagura
    prices = PriceTable.from_file("prices.json")       # that file's entries over the defaults
    prices.cost("gpt-4o-mini-2024-07-18", usage)       # -> 0.000123, or None for a model without a price

A price file is JSON ``{"<model>": {"input": USD per 1M tokens, "cached_input": ..., "cache_write": ...,
"output": ..., "batch": factor}}``; keys starting with ``_`` are notes (the shipped file's ``_as_of`` date).
``KAGURA_PRICES=FILE`` adds a file over the defaults for every :class:`~kagura.core.llm.LLMClient` built
without explicit ``prices`` (:meth:`PriceTable.from_env`). An unknown model costs ``None`` (unknown),
never a guess.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kagura._checks import check_number
from kagura.core.llm._types import Usage
from kagura.errors import ConfigurationError

__all__ = ["PRICES_ENV", "ModelPrice", "PriceTable"]

PRICES_ENV = "KAGURA_PRICES"
_PER_TOKEN = 1e-6  # prices are per million tokens
_FIELDS = ("input", "output", "cached_input", "cache_write", "batch")
# Suffixes that name a snapshot of the same model: -2024-07-18 (OpenAI), -20241022 (Anthropic), -latest,
# -001 (Gemini's stable versions). Stripped one at a time until a priced name is found.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest|\d{3})$")
_PREFIX = re.compile(r"^(?:models/|openai/|anthropic/|gemini/|google/)")


@dataclass(frozen=True)
class ModelPrice:
    """One model's list prices in USD per 1M tokens.

    ``cached_input`` (a prompt-cache read) and ``cache_write`` (a prompt-cache write) default to ``input``;
    ``batch`` is the factor the Batch API applies to every rate (1.0: no discount known).
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    batch: float = 1.0

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if value is None and name in ("cached_input", "cache_write"):
                continue
            check_number(f"ModelPrice.{name}", value, at_least=0, unit=" USD per 1M tokens")

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        """The dollars ``usage`` costs at these prices (Batch API rates when ``batch``)."""
        cached = self.input if self.cached_input is None else self.cached_input
        write = self.input if self.cache_write is None else self.cache_write
        dollars = (
            usage.uncached_input_tokens * self.input
            + usage.cached_input_tokens * cached
            + usage.cache_write_tokens * write
            + usage.completion_tokens * self.output
        ) * _PER_TOKEN
        return dollars * self.batch if batch else dollars

    @classmethod
    def from_json(cls, model: str, entry: object) -> ModelPrice:
        """A price from a file's entry ``{"input": ..., "output": ...}`` (``ValueError`` naming the model)."""
        if not isinstance(entry, dict):
            raise ValueError(f"the price of {model!r} must be an object of USD per 1M tokens, got {entry!r}")
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise ValueError(f"the price of {model!r} has unknown fields {unknown}; known: {list(_FIELDS)}")
        missing = [name for name in ("input", "output") if name not in entry]
        if missing:
            raise ValueError(f"the price of {model!r} lacks {' and '.join(missing)} (USD per 1M tokens)")
        try:
            return cls(**entry)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the price of {model!r}: {exc}") from None


class PriceTable(Mapping[str, ModelPrice]):
    """Prices by model name; ``as_of`` is the date the prices were read (when known).

    Lookups (:meth:`price`) try the exact name, then without a provider prefix (``models/``, ``openai/``)
    and snapshot suffixes (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``, ``claude-3-5-haiku-20241022``
    -> ``claude-3-5-haiku``). A table is immutable; :meth:`merged` makes a new one.
    """

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None, *, as_of: str | None = None) -> None:
        table = dict(prices or {})
        for model, price in table.items():
            if not isinstance(model, str) or not isinstance(price, ModelPrice):
                raise TypeError(f"PriceTable maps model names to ModelPrice, got {model!r}: {price!r}")
        self._prices = MappingProxyType(table)
        self.as_of = as_of

    # -- building ----------------------------------------------------------------------------------------
    @classmethod
    def default(cls) -> PriceTable:
        """The table shipped with kagura (``kagura/core/llm/data/prices.json``, dated by ``as_of``)."""
        return _shipped()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "prices") -> PriceTable:
        """A table from parsed JSON (``ConfigurationError`` naming ``source`` when an entry is wrong)."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"{source}: a price table is a JSON object of models, got {type(data).__name__}"
            )
        prices: dict[str, ModelPrice] = {}
        for model, entry in data.items():
            if str(model).startswith("_"):
                continue
            try:
                prices[str(model)] = ModelPrice.from_json(str(model), entry)
            except ValueError as exc:
                raise ConfigurationError(f"{source}: {exc}") from None
        as_of = data.get("_as_of")
        return cls(prices, as_of=as_of if isinstance(as_of, str) else None)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, base: PriceTable | None = None) -> PriceTable:
        """The file's prices over ``base`` (default: :meth:`default`); ``ConfigurationError`` for a file
        that is missing, not JSON or has a wrong entry."""
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read the price file {file}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ConfigurationError(f"the price file {file} is not valid JSON: {exc}") from None
        table = cls.from_mapping(data, source=f"price file {file}")
        return (cls.default() if base is None else base).merged(table)

    @classmethod
    def from_env(cls) -> PriceTable:
        """:meth:`default`, with the file named by ``KAGURA_PRICES`` over it when that is set."""
        path = os.environ.get(PRICES_ENV)
        return cls.from_file(path) if path else cls.default()

    def merged(self, other: PriceTable | Mapping[str, ModelPrice]) -> PriceTable:
        """A new table: this one's prices, replaced or extended by ``other``'s."""
        as_of = other.as_of if isinstance(other, PriceTable) and other.as_of else self.as_of
        return PriceTable({**self._prices, **other}, as_of=as_of)

    # -- reading -----------------------------------------------------------------------------------------
    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (exact name first, then without prefix and snapshot suffixes), or None."""
        if not isinstance(model, str):
            raise TypeError(f"model must be a str, got {type(model).__name__}")
        found = self._prices.get(model)
        if found is not None:
            return found
        name = _PREFIX.sub("", model.strip().lower())
        while True:
            found = self._prices.get(name)
            if found is not None:
                return found
            shorter = _SNAPSHOT.sub("", name)
            if shorter == name:
                return None
            name = shorter

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> float | None:
        """The dollars ``usage`` of ``model`` costs; ``None`` when the model has no price."""
        if not isinstance(usage, Usage):
            raise TypeError(f"usage must be a Usage, got {type(usage).__name__}")
        price = self.price(model)
        return None if price is None else price.cost(usage, batch=batch)

    def __getitem__(self, model: str) -> ModelPrice:
        return self._prices[model]

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} models, as_of={self.as_of!r})"


@functools.cache
def _shipped() -> PriceTable:
    """The shipped table, read once (static package data; tables are immutable)."""
    text = resources.files("kagura.core.llm").joinpath("data/prices.json").read_text(encoding="utf-8")
    return PriceTable.from_mapping(json.loads(text), source="kagura's shipped prices")
