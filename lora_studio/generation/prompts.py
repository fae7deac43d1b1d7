"""A1111-style prompt weighting and long prompts, turned into text-encoder embeddings.

Syntax (as people write it for A1111): ``(word)`` ×1.1, ``((word))`` ×1.21, ``[word]`` ÷1.1,
``(word:1.3)`` an explicit weight, ``\\(`` / ``\\)`` literal brackets, ``BREAK`` starts a new
77-token chunk. Prompts longer than 75 tokens are split into chunks of 75 (at the last comma when
one is near the end), each encoded on its own and concatenated along the sequence axis. Token
weights scale the token embeddings, then the chunk is rescaled so its mean is unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

ROUND_UP = 1.1
CHUNK_TOKENS = 75  # 77 minus the start and end tokens
COMMA_LOOKBACK = 20  # A1111 breaks a full chunk at a comma this many tokens back at most

_PARSE = re.compile(
    r"""\\(?P<esc>[\\()\[\]])
    |(?P<open>[(\[])
    |:\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*\)
    |(?P<close>[)\]])
    |(?P<brk>\bBREAK\b)
    |(?P<text>[^\\()\[\]:B]+|.)""",
    re.X | re.S,
)


def parse_weighted_prompt(prompt: str) -> list[tuple[str, float]]:
    """Split a prompt into ``(text, weight)`` runs; ``("BREAK", -1.0)`` marks a forced chunk break."""
    segments: list[list[Any]] = []
    stack: list[tuple[str, int]] = []  # (bracket, index of first segment inside it)

    def add_text(text: str) -> None:
        segments.append([text, 1.0])

    def scale_from(start: int, factor: float) -> None:
        for seg in segments[start:]:
            if seg[1] >= 0:
                seg[1] *= factor

    for m in _PARSE.finditer(prompt):
        if m.group("esc"):
            add_text(m.group("esc"))
        elif m.group("open"):
            stack.append((m.group("open"), len(segments)))
        elif m.group("num") is not None:
            if stack and stack[-1][0] == "(":
                scale_from(stack.pop()[1], float(m.group("num")))
            else:
                add_text(m.group(0))
        elif m.group("close"):
            want = "(" if m.group("close") == ")" else "["
            if stack and stack[-1][0] == want:
                scale_from(stack.pop()[1], ROUND_UP if want == "(" else 1 / ROUND_UP)
            else:
                add_text(m.group("close"))
        elif m.group("brk"):
            segments.append(["BREAK", -1.0])
        else:
            add_text(m.group(0))
    for bracket, start in reversed(stack):  # unclosed brackets still apply, like A1111
        scale_from(start, ROUND_UP if bracket == "(" else 1 / ROUND_UP)

    merged: list[tuple[str, float]] = []
    for text, weight in segments:
        if merged and weight >= 0 and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + text, weight)
        elif text or weight < 0:
            merged.append((text, float(weight)))
    return merged or [("", 1.0)]


@dataclass(frozen=True)
class TokenChunk:
    """Up to 75 token ids with one weight each (no start/end tokens yet)."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]


def chunk_tokens(tokenizer: Any, prompt: str) -> list[TokenChunk]:
    """Tokenise a weighted prompt into chunks of at most 75 tokens, A1111 style."""
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    chunks: list[TokenChunk] = []
    ids: list[int] = []
    weights: list[float] = []
    last_comma = -1

    def flush() -> None:
        nonlocal ids, weights, last_comma
        chunks.append(TokenChunk(tuple(ids), tuple(weights)))
        ids, weights, last_comma = [], [], -1

    for text, weight in parse_weighted_prompt(prompt):
        if weight < 0:  # BREAK
            flush()
            continue
        for token in tokenizer(text, add_special_tokens=False, truncation=False).input_ids:
            if len(ids) == CHUNK_TOKENS:
                if last_comma >= 0 and len(ids) - last_comma <= COMMA_LOOKBACK:
                    carry_ids, carry_w = ids[last_comma + 1 :], weights[last_comma + 1 :]
                    ids, weights = ids[: last_comma + 1], weights[: last_comma + 1]
                    flush()
                    ids, weights = carry_ids, carry_w
                else:
                    flush()
            if token == comma:
                last_comma = len(ids)
            ids.append(token)
            weights.append(weight)
    if ids or not chunks:
        flush()
    return chunks


def _chunk_tensors(
    tokenizer: Any, chunk: TokenChunk, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    n_pad = CHUNK_TOKENS - len(chunk.ids)
    # A1111 (and diffusers, and kohya's training): the end token right after the text, then the
    # padding. SD 1.x pads with the end token itself; OpenCLIP (SD 2.x, SDXL's second encoder) pads
    # with "!" (id 0), so where the end token sits changes the embeddings and SDXL's pooled output.
    ids = [tokenizer.bos_token_id, *chunk.ids, tokenizer.eos_token_id, *([pad] * n_pad)]
    w = [1.0, *chunk.weights, 1.0, *([1.0] * n_pad)]
    return (
        torch.tensor([ids], dtype=torch.long, device=device),
        torch.tensor([w], dtype=torch.float32, device=device),
    )


def _final_norm(text_encoder: Any) -> Any:
    inner = getattr(text_encoder, "text_model", text_encoder)  # transformers >= 5.6 flattened CLIPTextModel
    return inner.final_layer_norm


def _apply_weights(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if bool((w == 1.0).all()):
        return z
    original_mean = z.float().mean()
    weighted = z.float() * w[..., None]
    weighted = weighted * (original_mean / weighted.mean())
    return weighted.to(z.dtype)


@dataclass
class PromptEmbeds:
    """What a pipeline's ``__call__`` takes instead of prompt strings."""

    prompt_embeds: torch.Tensor
    negative_prompt_embeds: torch.Tensor
    pooled_prompt_embeds: torch.Tensor | None = None
    negative_pooled_prompt_embeds: torch.Tensor | None = None

    def as_kwargs(self) -> dict[str, torch.Tensor | None]:
        out: dict[str, torch.Tensor | None] = {
            "prompt_embeds": self.prompt_embeds,
            "negative_prompt_embeds": self.negative_prompt_embeds,
        }
        if self.pooled_prompt_embeds is not None:
            out["pooled_prompt_embeds"] = self.pooled_prompt_embeds
            out["negative_pooled_prompt_embeds"] = self.negative_pooled_prompt_embeds
        return out


def _encode_chunks(
    encoders: list[tuple[Any, Any]], chunks: list[list[TokenChunk]], clip_skip: int, sdxl: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encode aligned chunk lists (one per encoder) → (embeds [1, 77·n, D], pooled or None)."""
    per_chunk: list[torch.Tensor] = []
    pooled: torch.Tensor | None = None
    for index in range(len(chunks[0])):
        parts = []
        for enc_no, (tokenizer, encoder) in enumerate(encoders):
            ids, w = _chunk_tensors(tokenizer, chunks[enc_no][index], encoder.device)
            out = encoder(ids, output_hidden_states=True)
            if sdxl:
                # SDXL conditions on the penultimate layer; A1111 clip skip 1 means exactly that.
                z = out.hidden_states[-(clip_skip + 1)]
                if enc_no == 1 and index == 0:
                    pooled = out.text_embeds
            elif clip_skip <= 1:
                z = out.last_hidden_state
            else:
                z = _final_norm(encoder)(out.hidden_states[-clip_skip])
            parts.append(_apply_weights(z, w))
        per_chunk.append(torch.cat(parts, dim=-1))
    return torch.cat(per_chunk, dim=1), pooled


def _pad_to(chunks: list[TokenChunk], n: int) -> list[TokenChunk]:
    return chunks + [TokenChunk((), ())] * (n - len(chunks))


@torch.no_grad()
def encode_prompts(pipe: Any, prompt: str, negative: str, clip_skip: int = 1) -> PromptEmbeds:
    """Encode positive and negative prompts with the pipeline's own tokenizer(s) and text encoder(s).

    Both sides get the same number of chunks (the shorter one is padded with empty chunks), since
    classifier-free guidance concatenates them into one batch.
    """
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    encoders = [(pipe.tokenizer, pipe.text_encoder)]
    if sdxl:
        encoders.append((pipe.tokenizer_2, pipe.text_encoder_2))
    pos = [chunk_tokens(tok, prompt) for tok, _ in encoders]
    neg = [chunk_tokens(tok, negative) for tok, _ in encoders]
    n = max(len(c) for c in [*pos, *neg])
    pos = [_pad_to(c, n) for c in pos]
    neg = [_pad_to(c, n) for c in neg]
    pos_z, pos_pooled = _encode_chunks(encoders, pos, clip_skip, sdxl)
    neg_z, neg_pooled = _encode_chunks(encoders, neg, clip_skip, sdxl)
    if sdxl and not negative.strip() and getattr(pipe.config, "force_zeros_for_empty_prompt", False):
        neg_z = torch.zeros_like(neg_z)
        neg_pooled = torch.zeros_like(pos_pooled) if pos_pooled is not None else None
    dtype = pipe.unet.dtype
    return PromptEmbeds(
        pos_z.to(dtype),
        neg_z.to(dtype),
        pos_pooled.to(dtype) if pos_pooled is not None else None,
        neg_pooled.to(dtype) if neg_pooled is not None else None,
    )
