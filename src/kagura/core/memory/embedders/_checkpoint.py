"""A BERT checkpoint for inference: its ``config.json`` values and its tensors, rearranged once.

Shared by the numpy forward pass (:mod:`._bert`) and the ONNX graph writer (:mod:`._onnx_graph`), so both
compute from exactly the same folded weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kagura.errors import ConfigurationError

__all__ = ["BertConfig", "BertWeights", "LayerWeights", "strip_prefix"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The ``config.json`` values the forward pass depends on."""

    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    intermediate_size: int
    layer_norm_eps: float
    max_position_embeddings: int

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BertConfig:
        """Read a Hugging Face BERT config, refusing variants this forward pass does not implement."""
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ConfigurationError(f"unsupported hidden_act {raw.get('hidden_act')!r}: only 'gelu' (erf)")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ConfigurationError("unsupported position_embedding_type: only 'absolute'")
        try:
            config = cls(
                hidden_size=int(raw["hidden_size"]),
                num_attention_heads=int(raw["num_attention_heads"]),
                num_hidden_layers=int(raw["num_hidden_layers"]),
                intermediate_size=int(raw["intermediate_size"]),
                layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
                max_position_embeddings=int(raw.get("max_position_embeddings", 512)),
            )
        except KeyError as exc:
            raise ConfigurationError(f"model config.json lacks {exc.args[0]!r}") from None
        if config.hidden_size % config.num_attention_heads:
            raise ConfigurationError("hidden_size must be a multiple of num_attention_heads")
        return config


@dataclass(frozen=True, slots=True)
class LayerWeights:
    qkv_w: FloatArray  # (hidden, 3 * hidden): query (pre-scaled by 1/sqrt(head_dim)), key, value
    qkv_b: FloatArray
    out_w: FloatArray  # (hidden, hidden), transposed view
    out_b: FloatArray
    ln1_w: FloatArray
    ln1_b: FloatArray
    inter_w: FloatArray  # (hidden, intermediate), transposed view
    inter_b: FloatArray
    down_w: FloatArray  # (intermediate, hidden), transposed view
    down_b: FloatArray
    ln2_w: FloatArray
    ln2_b: FloatArray


def strip_prefix(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop a leading ``bert.`` (or similar) so names start at ``embeddings.`` / ``encoder.``."""
    anchor = "embeddings.word_embeddings.weight"
    for key in weights:
        if key.endswith(anchor):
            prefix = key[: -len(anchor)]
            return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    raise ConfigurationError(f"model weights lack {anchor!r}: not a BERT checkpoint")


@dataclass(frozen=True, slots=True)
class BertWeights:
    """A checkpoint's tensors as float32, laid out for inference (shared by the numpy and ONNX paths).

    Linear weights are transposed to ``(in, out)``; each layer's query, key and value projections are
    fused into one ``(hidden, 3 * hidden)`` matrix with the query pre-scaled by ``1/sqrt(head_dim)``.
    """

    word: FloatArray
    position: FloatArray
    token_type: FloatArray
    emb_ln_w: FloatArray
    emb_ln_b: FloatArray
    layers: tuple[LayerWeights, ...]

    @classmethod
    def load(cls, config: BertConfig, weights: Mapping[str, np.ndarray]) -> BertWeights:
        """Check and rearrange Hugging Face ``BertModel`` tensors; ConfigurationError names a missing one."""
        w = strip_prefix(weights)

        def get(name: str) -> FloatArray:
            try:
                return np.asarray(w[name], dtype=np.float32)
            except KeyError:
                raise ConfigurationError(f"model weights lack {name!r}") from None

        word = get("embeddings.word_embeddings.weight")
        if word.shape[1] != config.hidden_size:
            raise ConfigurationError("word embeddings do not match hidden_size in config.json")
        scale = np.float32(1.0 / math.sqrt(config.hidden_size // config.num_attention_heads))
        layers = []
        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate(
                [
                    get(p + "attention.self.query.weight") * scale,
                    get(p + "attention.self.key.weight"),
                    get(p + "attention.self.value.weight"),
                ]
            ).T.copy()
            qkv_b = np.concatenate(
                [
                    get(p + "attention.self.query.bias") * scale,
                    get(p + "attention.self.key.bias"),
                    get(p + "attention.self.value.bias"),
                ]
            )
            layers.append(
                LayerWeights(
                    qkv_w=qkv_w,
                    qkv_b=qkv_b,
                    out_w=get(p + "attention.output.dense.weight").T,
                    out_b=get(p + "attention.output.dense.bias"),
                    ln1_w=get(p + "attention.output.LayerNorm.weight"),
                    ln1_b=get(p + "attention.output.LayerNorm.bias"),
                    inter_w=get(p + "intermediate.dense.weight").T,
                    inter_b=get(p + "intermediate.dense.bias"),
                    down_w=get(p + "output.dense.weight").T,
                    down_b=get(p + "output.dense.bias"),
                    ln2_w=get(p + "output.LayerNorm.weight"),
                    ln2_b=get(p + "output.LayerNorm.bias"),
                )
            )
        return cls(
            word=word,
            position=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight"),
            emb_ln_w=get("embeddings.LayerNorm.weight"),
            emb_ln_b=get("embeddings.LayerNorm.bias"),
            layers=tuple(layers),
        )
