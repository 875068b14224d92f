"""A small Llama-architecture decoder in PyTorch, laid out as llama.cpp's `llama` GGUF
architecture expects: RMSNorm, rotary attention (adjacent pairs, ggml's "normal" RoPE),
SwiGLU feed-forward, the output head tied to the token embedding."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    ffn: int = 0  # feed-forward width; 0 = 8/3 d_model rounded up to a multiple of 32
    context: int = 4096  # tokens the positions are meant for (GGUF context_length)
    rope_base: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def ffn_width(self) -> int:
        return self.ffn or -(-8 * self.d_model // 3 // 32) * 32

    def to_dict(self) -> dict:
        return asdict(self)


def rope_tables(config: ModelConfig, length: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape [length, head_dim/2]: pair i turns by pos * base^(-2i/head_dim)."""
    half = config.head_dim // 2
    inv = config.rope_base ** (-torch.arange(half, dtype=torch.float32, device=device) * 2 / config.head_dim)
    angles = torch.arange(length, dtype=torch.float32, device=device)[:, None] * inv[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [batch, heads, T, head_dim]; rotates the adjacent pairs (x0,x1), (x2,x3), ..."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # no-op in float32; keeps bfloat16 on a GPU
    pairs = x.unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        d, self.heads = config.d_model, config.heads
        self.attn_norm = nn.RMSNorm(d, eps=config.norm_eps)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.ffn_norm = nn.RMSNorm(d, eps=config.norm_eps)
        self.gate = nn.Linear(d, config.ffn_width, bias=False)
        self.up = nn.Linear(d, config.ffn_width, bias=False)
        self.down = nn.Linear(config.ffn_width, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, length, d = x.shape
        h = self.attn_norm(x)
        q, k, v = (proj(h).view(batch, length, self.heads, -1).transpose(1, 2)
                   for proj in (self.q, self.k, self.v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(attended.transpose(1, 2).reshape(batch, length, d))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class TinyLlama(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        nn.init.normal_(self.embed.weight, std=0.02)
        for block in self.blocks:  # residual projections start small (GPT-2 style)
            for layer in (block.o, block.down):
                nn.init.normal_(layer.weight, std=0.02 / (2 * config.layers) ** 0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, T] -> logits [batch, T, vocab]; the head is the embedding."""
        cos, sin = rope_tables(self.config, tokens.shape[1], tokens.device)
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x) @ self.embed.weight.T

    @torch.no_grad()
    def greedy(self, prompt: list[int], steps: int) -> list[int]:
        """Greedy continuation of `steps` tokens (recomputes the whole context each step)."""
        tokens = list(prompt)
        for _ in range(steps):
            logits = self(torch.tensor([tokens]))[0, -1]
            tokens.append(int(logits.argmax()))
        return tokens[len(prompt):]
