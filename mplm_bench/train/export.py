"""Write a TinyLlama and its vocabulary as a GGUF file llama.cpp loads (`llama` arch).

PyTorch's [out, in] weight arrays are written as they are; the model's RoPE already turns
adjacent pairs as ggml does, so Q and K need no permutation."""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

from mplm_bench.train.model import TinyLlama
from mplm_bench.train.vocab import BOS, EOS, UNK, Vocabulary


def _tensors(model: TinyLlama) -> dict[str, torch.Tensor]:
    named = {"token_embd.weight": model.embed.weight, "output_norm.weight": model.norm.weight}
    for i, block in enumerate(model.blocks):
        parts = dict(attn_norm=block.attn_norm, attn_q=block.q, attn_k=block.k, attn_v=block.v,
                     attn_output=block.o, ffn_norm=block.ffn_norm, ffn_gate=block.gate,
                     ffn_up=block.up, ffn_down=block.down)
        named.update({f"blk.{i}.{name}.weight": module.weight for name, module in parts.items()})
    return named


def write_gguf(model: TinyLlama, vocab: Vocabulary, path: Path, name: str,
               float16: bool = True) -> None:
    """Matrices in f16 (or f32), norms in f32."""
    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(config.context)
    writer.add_embedding_length(config.d_model)
    writer.add_block_count(config.layers)
    writer.add_feed_forward_length(config.ffn_width)
    writer.add_head_count(config.heads)
    writer.add_head_count_kv(config.heads)
    writer.add_layer_norm_rms_eps(config.norm_eps)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(config.rope_base)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if float16 else gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    writer.add_unk_token_id(UNK)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    for tensor_name, weight in _tensors(model).items():
        array = weight.detach().float().cpu().numpy()
        if float16 and array.ndim == 2:
            array = array.astype(np.float16)
        writer.add_tensor(tensor_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
