"""Write the MiniLM sentence-embedding pipeline as an ONNX graph, straight from the safetensors weights.

No export from torch: the graph is written node by node with :mod:`onnx.helper`, mirroring
:class:`~kagura.core.memory.embedders._bert.BertEncoder` (same folded weights: fused Q/K/V projection
with the query pre-scaled by ``1/sqrt(head_dim)``) and then the sentence-transformers head, so one
``session.run`` goes from token ids to unit vectors::

    input_ids (batch, seq) int64, attention_mask (batch, seq) int64
      -> word + position + token-type embeddings, LayerNorm
      -> per layer: fused self-attention (``com.microsoft.Attention``), residual LayerNorm,
         MatMul + exact GELU + MatMul, residual LayerNorm
      -> mean pooling over the mask, L2 normalisation -> embeddings (batch, hidden) float32

Self-attention uses ONNX Runtime's fused ``Attention`` contrib op (every ONNX Runtime CPU build has it),
which :func:`onnxruntime.quantization.quantize_dynamic` turns into ``QAttention`` for the int8 variant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kagura.core.memory.embedders._checkpoint import BertConfig, BertWeights

if TYPE_CHECKING:
    import onnx

__all__ = ["OPSET", "build_graph"]

OPSET = 17
"""Default-domain opset of the graph (17 brings ``LayerNormalization``)."""


class _Builder:
    """Collects nodes and initializers with unique names."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], *, domain: str = "", name: str = "", **attrs: Any) -> str:
        """Append a node; its output is named after ``name`` (or a counter) and returned."""
        self._count += 1
        name = name or f"{op_type.lower()}_{self._count}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [name], name=name, domain=domain, **attrs))
        return name


def build_graph(config: BertConfig, weights: BertWeights) -> onnx.ModelProto:
    """The ONNX model computing normalised mean-pooled embeddings; see the module docstring."""
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads = config.hidden_size, config.num_attention_heads
    eps = float(config.layer_norm_eps)
    b = _Builder(helper, numpy_helper)

    def layer_norm(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        w, bb = b.const(f"{name}_w", weight), b.const(f"{name}_b", bias)
        return b.op("LayerNormalization", [x, w, bb], axis=-1, epsilon=eps)

    def linear(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        product = b.op("MatMul", [x, b.const(f"{name}_w", weight)], name=f"{name}_matmul")
        return b.op("Add", [product, b.const(f"{name}_b", bias)])

    # Embeddings: word[ids] + position[:seq] + token_type[0], then LayerNorm.
    seq_len = b.op("Shape", ["input_ids"], start=1, end=2)  # 1-D [seq]
    zero = b.const("zero_1d", np.array([0], np.int64))
    positions = b.op("Slice", [b.const("pos_emb", weights.position), zero, seq_len, zero])
    x = b.op("Gather", [b.const("word_emb", weights.word), "input_ids"], axis=0)
    x = b.op("Add", [x, positions])
    x = b.op("Add", [x, b.const("type_emb", weights.token_type[0])])
    x = layer_norm(x, weights.emb_ln_w, weights.emb_ln_b, "emb_ln")
    mask_index = b.op("Cast", ["attention_mask"], to=TensorProto.INT32)

    for i, layer in enumerate(weights.layers):
        # The query is pre-scaled in the folded weights, so the op's own scale is 1.
        qkv = [b.const(f"l{i}_qkv_w", layer.qkv_w), b.const(f"l{i}_qkv_b", layer.qkv_b), mask_index]
        attn = b.op("Attention", [x, *qkv], domain="com.microsoft", num_heads=heads, scale=1.0)
        attn = linear(attn, layer.out_w, layer.out_b, f"l{i}_out")
        x = layer_norm(b.op("Add", [attn, x]), layer.ln1_w, layer.ln1_b, f"l{i}_ln1")
        inter = b.op("Gelu", [linear(x, layer.inter_w, layer.inter_b, f"l{i}_inter")], domain="com.microsoft")
        down = linear(inter, layer.down_w, layer.down_b, f"l{i}_down")
        x = layer_norm(b.op("Add", [down, x]), layer.ln2_w, layer.ln2_b, f"l{i}_ln2")

    # Mean pooling over the mask, then L2 normalisation (clamped as sentence-transformers does).
    weights_f = b.op(
        "Unsqueeze",
        [b.op("Cast", ["attention_mask"], to=TensorProto.FLOAT), b.const("ax2", np.array([2], np.int64))],
    )
    axis1 = b.const("ax1", np.array([1], np.int64))
    summed = b.op("ReduceSum", [b.op("Mul", [x, weights_f]), axis1], keepdims=0)
    count = b.op(
        "Max",
        [b.op("ReduceSum", [weights_f, axis1], keepdims=0), b.const("tiny", np.array(1e-9, np.float32))],
    )
    pooled = b.op("Div", [summed, count])
    norm = b.op("ReduceL2", [pooled], axes=[1], keepdims=1)  # axes is an attribute until opset 18
    norm = b.op("Max", [norm, b.const("tiny_norm", np.array(1e-12, np.float32))])
    b.nodes.append(helper.make_node("Div", [pooled, norm], ["embeddings"], name="output"))

    graph = helper.make_graph(
        b.nodes,
        "kagura-minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])],
        initializer=b.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="kagura",
    )
    model.ir_version = 8
    return model
