"""The sizes of a model that drive FLOPs, memory and KV cache, from the catalogue or inline."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.catalog import Catalog, Model
from suanli.workload import InlineModel, JobSpec

DENSE_ASPECT = 128
"""hidden / layers of typical dense transformers (Llama 3 8B 4096/32, 405B 16384/126)."""
DEFAULT_EXPERTS = 128
"""Routed experts per layer where a MoE model does not say (Qwen3-235B-A22B 128,
DeepSeek-V3 256; an assumption)."""
MLA_HEAD_DIM = 160
"""Mean of the query-key and value head sizes of a latent (MLA) cache's decompressed heads:
DeepSeek-V2 and V3 config.json give qk_nope_head_dim 128 + qk_rope_head_dim 64 = 192 and
v_head_dim 128 (an assumption for other latent-cache models)."""
DEFAULT_TOP_K = 8
"""Routed experts per token where a MoE model does not say: DeepSeek-V3 and Qwen3-235B-A22B
both route each token to 8 (an assumption for other models)."""


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a model that set its FLOPs, memory and KV cache."""

    name: str
    params: float
    """Total parameters."""
    active_params: float
    """Parameters used per token (equal to ``params`` for dense models)."""
    layers: int
    hidden: int
    kv_values_per_token: int
    """Values in the KV cache per token, across all layers."""
    context: int
    derived: tuple[str, ...] = ()
    """Fields derived from ``params`` because the spec did not give them."""
    heads: int = 0
    """Query heads (0: unknown; tensor parallelism then need not divide them)."""
    top_k: int = DEFAULT_TOP_K
    """Routed experts per token (MoE only)."""
    experts: int = DEFAULT_EXPERTS
    """Routed experts per MoE layer."""
    decode_attention_width: int = 0
    """Values each cached token contributes per layer to one decode step's attention, over
    all query heads: ``heads x head_dim`` for (grouped-query) attention, ``heads x kv_dim``
    for a latent cache every head reads in full (MLA, absorbed; DeepSeek-V2 sec. 2.1).
    0: the hidden size."""
    attention_width: int = 0
    """Query heads x the mean of the query-key and value head sizes: the width of the score
    and value products that training and prefill compute for every pair of tokens. It is the
    hidden size for most dense models, ``heads x head_dim`` where the heads are wider or
    narrower (Qwen3-235B-A22B: 64 x 128 against hidden 4,096), and ``heads x MLA_HEAD_DIM``
    for a latent cache, whose heads are decompressed for training and prefill (DeepSeek-V2
    sec. 2.1.2). 0: the hidden size."""
    vocab: int = 0
    """Vocabulary size (0: unknown; then the embedding and LM-head terms of the training model,
    :attr:`suanli.model.training.TrainingWork.vocab`, are left out)."""
    tied_embeddings: bool = False
    """The LM head reuses the input embedding matrix (counted once in ``params``)."""

    @property
    def is_moe(self) -> bool:
        return self.active_params < self.params


def decode_attention_width(hidden: int, heads: int, kv_heads: int, kv_dim: int | None) -> int:
    """See :attr:`ModelShape.decode_attention_width`: a per-layer cache of 2 x kv_heads
    vectors of at least 32 values is grouped-query attention with that head size; a smaller
    one is a latent shared by all heads."""
    if kv_dim is None:
        return hidden
    head_dim = kv_dim / (2 * kv_heads)
    return int(heads * head_dim) if head_dim >= 32 else heads * kv_dim


def attention_width(hidden: int, heads: int, kv_heads: int, kv_dim: int | None) -> int:
    """See :attr:`ModelShape.attention_width` (the head size read from the cache as in
    :func:`decode_attention_width`)."""
    if kv_dim is None:
        return hidden
    head_dim = kv_dim / (2 * kv_heads)
    return int(heads * head_dim) if head_dim >= 32 else heads * MLA_HEAD_DIM


def shape_from_catalog(model: Model) -> ModelShape:
    return ModelShape(
        name=model.id,
        params=model.params_b * 1e9,
        active_params=model.active_params_b * 1e9,
        layers=model.layers,
        hidden=model.hidden,
        kv_values_per_token=model.kv_values_per_token,
        context=model.context,
        heads=model.heads,
        decode_attention_width=decode_attention_width(model.hidden, model.heads, model.kv_heads, model.kv_dim),
        attention_width=attention_width(model.hidden, model.heads, model.kv_heads, model.kv_dim),
        vocab=model.vocab or 0,
        tied_embeddings=model.tied_embeddings,
    )


def shape_from_inline(model: InlineModel) -> ModelShape:
    """Fill missing sizes assuming N = 12 x L x h^2 and h = 128 x L (see :class:`InlineModel`)."""
    params = model.params_b * 1e9
    active = (model.active_params_b or model.params_b) * 1e9
    derived: list[str] = []
    layers = model.layers
    if layers is None:
        layers = max(1, round((active / (12 * DENSE_ASPECT**2)) ** (1 / 3)))
        derived.append("layers")
    hidden = model.hidden
    if hidden is None:
        hidden = max(64, round((active / (12 * layers)) ** 0.5))
        derived.append("hidden")
    heads = model.heads or max(1, hidden // 128)
    kv_heads = model.kv_heads or heads
    if model.kv_dim is not None:
        per_layer = model.kv_dim
    else:
        per_layer = 2 * kv_heads * (hidden // heads)
        if model.kv_heads is None:
            derived.append("kv_heads")
    return ModelShape(
        name="inline",
        params=params,
        active_params=active,
        layers=layers,
        hidden=hidden,
        kv_values_per_token=per_layer * layers,
        context=model.context,
        derived=tuple(derived),
        heads=heads,
        top_k=model.top_k or DEFAULT_TOP_K,
        experts=model.experts or DEFAULT_EXPERTS,
        decode_attention_width=decode_attention_width(hidden, heads, kv_heads, model.kv_dim),
        attention_width=attention_width(hidden, heads, kv_heads, model.kv_dim),
        vocab=model.vocab or 0,
        tied_embeddings=model.tied_embeddings,
    )


def resolve_shape(job: JobSpec, catalog: Catalog) -> ModelShape | None:
    """The job's model sizes, or None for a profiled job that names no model."""
    if job.model is None:
        return None
    if isinstance(job.model, str):
        return shape_from_catalog(catalog.model(job.model))
    return shape_from_inline(job.model)
