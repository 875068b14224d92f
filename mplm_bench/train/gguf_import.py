"""Read a GGUF file written by export.write_gguf back into a TinyLlama (for eval-steps)."""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

from mplm_bench.tasks.base import TaskInputError
from mplm_bench.train.export import _tensors
from mplm_bench.train.model import ModelConfig, TinyLlama

_FLOAT_TYPES = (gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32)


def _field(reader: gguf.GGUFReader, key: str):
    field = reader.fields[key]
    return field.parts[field.data[0]].tolist()[0]


def read_gguf(path: Path) -> TinyLlama:
    """The model in `path`; a GGUF file `train` did not write (another architecture, a
    quantized or differently shaped model) is refused with one line."""
    try:
        return _read(gguf.GGUFReader(str(path)))
    except (KeyError, ValueError) as error:
        raise TaskInputError(f"{path}: not a model written by `mplm-bench train` "
                             f"({str(error).strip(chr(39))})") from None


def _read(reader: gguf.GGUFReader) -> TinyLlama:
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
            if arrays[name].tensor_type not in _FLOAT_TYPES:
                raise ValueError(f"{name} is {arrays[name].tensor_type.name}, not f16 or f32")
            data = np.array(arrays[name].data, dtype=np.float32).reshape(weight.shape)
            weight.copy_(torch.from_numpy(data))
    model.eval()
    return model
