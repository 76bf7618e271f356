"""A BERT encoder forward pass in plain numpy (float32), no torch.

It reproduces Hugging Face ``BertModel`` in inference mode (dropout off) for models with absolute position
embeddings and the exact (erf) GELU: embeddings (word + position + token type) and LayerNorm, then per layer
multi-head self-attention with the padding mask, a residual LayerNorm, the GELU feed-forward and a second
residual LayerNorm. ``encode`` returns the last hidden states; pooling is the caller's business.

The weights are read once and never written, so one :class:`BertEncoder` can serve many threads at once.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from kagura.core.memory.embedders._checkpoint import BertConfig, BertWeights, LayerWeights, strip_prefix

__all__ = ["BertConfig", "BertEncoder", "BertWeights", "erf", "gelu", "strip_prefix"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7 over the real line, below float32 resolution near 1.
_P = np.float32(0.3275911)
_A = tuple(np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
# The same constants pre-scaled for GELU: t = 1 / (1 + P |x| / sqrt 2), 0.5 * A folded into the polynomial.
_GELU_P = np.float32(0.3275911 / math.sqrt(2.0))
_GELU_A = tuple(np.float32(0.5 * float(a)) for a in _A)
_GELU_CLIP = np.float32(4.0 * math.sqrt(2.0))


def _half_erfc_abs(z: FloatArray) -> FloatArray:
    """``0.5 * erfc(|z|)`` (A&S 7.1.26), with |z| clipped at 4 so exp() never produces slow denormals."""
    a = np.abs(z)
    np.minimum(a, np.float32(4.0), out=a)
    t = a * _P
    t += 1.0
    np.reciprocal(t, out=t)
    q = t * _A[4]
    for coef in (_A[3], _A[2], _A[1], _A[0]):
        q += coef
        q *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    q *= a
    q *= np.float32(0.5)
    return q


def erf(x: FloatArray) -> FloatArray:
    """The error function, elementwise, for float32 arrays (max absolute error 1.5e-7 + rounding)."""
    x = np.asarray(x, dtype=np.float32)
    return (np.sign(x) * (1.0 - 2.0 * _half_erfc_abs(x))).astype(np.float32, copy=False)


def gelu(x: FloatArray, *, inplace: bool = False) -> FloatArray:
    """Exact GELU as BERT uses it, ``0.5 * x * (1 + erf(x / sqrt(2)))``, in a cheap equivalent form.

    With ``q = 0.5 * erfc(|x| / sqrt(2))`` that is ``max(x, 0) - |x| * q`` for either sign of ``x``: no
    branches and no masked ufuncs, with the 1/sqrt(2) and 0.5 factors folded into the A&S constants,
    since this runs over every feed-forward activation. ``inplace=True`` overwrites ``x`` (float32).
    """
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x)
    np.minimum(a, _GELU_CLIP, out=a)  # erfc(4) ~ 1.5e-8: beyond, q * |x| is below float32 resolution
    t = a * _GELU_P
    t += 1.0
    np.reciprocal(t, out=t)
    q = t * _GELU_A[4]
    for coef in (_GELU_A[3], _GELU_A[2], _GELU_A[1], _GELU_A[0]):
        q += coef
        q *= t
    e = np.square(a, out=t)
    e *= np.float32(-0.5)
    np.exp(e, out=e)
    q *= e
    q *= a
    out = x if inplace else a
    np.maximum(x, np.float32(0.0), out=out)
    out -= q
    return out


# GELU over big activations is split in two halves, one on a helper thread: numpy releases the GIL in
# ufuncs, and elementwise work is single-threaded (unlike the BLAS matmuls around it).
_SPLIT_MIN_ROWS = 256
_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _helper_pool() -> ThreadPoolExecutor | None:
    global _helper
    if (os.cpu_count() or 1) < 2:
        return None
    if _helper is None:
        with _helper_lock:
            if _helper is None:
                _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kagura-gelu")
    return _helper


def _forget_helper_after_fork() -> None:
    # A forked child inherits the executor object but not its thread: start a fresh one on demand.
    global _helper
    _helper = None


os.register_at_fork(after_in_child=_forget_helper_after_fork)


def gelu_parallel_(x: FloatArray) -> FloatArray:
    """In-place :func:`gelu` of a 2-D float32 array, in two halves on two cores when it is large."""
    pool = _helper_pool() if x.shape[0] >= _SPLIT_MIN_ROWS else None
    if pool is None:
        return gelu(x, inplace=True)
    half = x.shape[0] // 2
    other = pool.submit(gelu, x[half:], inplace=True)
    gelu(x[:half], inplace=True)
    other.result()
    return x


class BertEncoder:
    """Inference-only BERT encoder over numpy arrays."""

    def __init__(self, config: BertConfig, weights: Mapping[str, np.ndarray]) -> None:
        self.config = config
        self.weights = loaded = BertWeights.load(config, weights)
        self._word = loaded.word
        self._position = loaded.position
        self._token_type = loaded.token_type
        self._emb_ln_w = loaded.emb_ln_w
        self._emb_ln_b = loaded.emb_ln_b
        self._layers = loaded.layers

    def _layer_norm(self, x: FloatArray, weight: FloatArray, bias: FloatArray) -> FloatArray:
        mean = x.mean(axis=-1, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=-1, keepdims=True)
        normed = centered / np.sqrt(var + np.float32(self.config.layer_norm_eps))
        return (normed * weight + bias).astype(np.float32, copy=False)

    def _feed_forward(self, x: FloatArray, layer: LayerWeights) -> FloatArray:
        """GELU feed-forward + residual LayerNorm (one large matmul each way: fewest BLAS calls)."""
        inter = x @ layer.inter_w
        inter += layer.inter_b
        down = gelu_parallel_(inter) @ layer.down_w
        down += layer.down_b
        down += x
        return self._layer_norm(down, layer.ln2_w, layer.ln2_b)

    def encode(self, input_ids: IntArray, attention_mask: IntArray) -> FloatArray:
        """Last hidden states ``(batch, seq, hidden)`` for padded ``(batch, seq)`` token ids and mask."""
        if input_ids.ndim != 2 or input_ids.shape != attention_mask.shape:
            raise ValueError("input_ids and attention_mask must be 2-D arrays of the same shape")
        batch, seq = input_ids.shape
        if seq > self.config.max_position_embeddings:
            raise ValueError(f"sequence of {seq} tokens exceeds {self.config.max_position_embeddings}")
        cfg = self.config
        hidden, heads = cfg.hidden_size, cfg.num_attention_heads
        head_dim = hidden // heads

        x = self._word[input_ids] + self._position[:seq] + self._token_type[0]
        x = self._layer_norm(x.reshape(batch * seq, hidden), self._emb_ln_w, self._emb_ln_b)
        # Additive mask over keys: 0 where attended, the float32 minimum where padded (as transformers does).
        # Batches of equal-length texts (the common case after sorting by length) need no mask at all.
        padded = not bool(np.all(attention_mask > 0))
        bias = np.where(attention_mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min)
        bias = bias.astype(np.float32)

        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (batch*seq, 3*hidden)
            qkv = qkv.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, seq, head_dim)
            scores = q @ k.transpose(0, 1, 3, 2)  # (batch, heads, seq, seq)
            if padded:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, hidden)
            attn = context @ layer.out_w + layer.out_b
            x = self._layer_norm(attn + x, layer.ln1_w, layer.ln1_b)
            x = self._feed_forward(x, layer)
        return x.reshape(batch, seq, hidden)
