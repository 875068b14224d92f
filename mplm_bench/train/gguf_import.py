"""Read a GGUF file written by export.write_gguf back into a TinyLlama (for eval-steps)."""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

from mplm_bench.train.export import _tensors
from mplm_bench.train.model import ModelConfig, TinyLlama


def _field(reader: gguf.GGUFReader, key: str):
    field = reader.fields[key]
    return field.parts[field.data[0]].tolist()[0]


def read_gguf(path: Path) -> TinyLlama:
    reader = gguf.GGUFReader(str(path))
    arch = "llama"
    config = ModelConfig(
        vocab_size=len(reader.fields["tokenizer.ggml.tokens"].data),
        d_model=_field(reader, f"{arch}.embedding_length"),
        layers=_field(reader, f"{arch}.block_count"),
        heads=_field(reader, f"{arch}.attention.head_count"),
        ffn=_field(reader, f"{arch}.feed_forward_length"),
        context=_field(reader, f"{arch}.context_length"),
        rope_base=_field(reader, f"{arch}.rope.freq_base"),
        norm_eps=_field(reader, f"{arch}.attention.layer_norm_rms_epsilon"),
    )
    model = TinyLlama(config)
    arrays = {tensor.name: tensor for tensor in reader.tensors}
    with torch.no_grad():
        for name, weight in _tensors(model).items():
            data = np.array(arrays[name].data, dtype=np.float32).reshape(weight.shape)
            weight.copy_(torch.from_numpy(data))
    model.eval()
    return model
