"""Starting a training run from a GGUF model: the same shape, or a smaller one grown by
new blocks on top (which start as the identity), optionally with its weights fixed."""
from __future__ import annotations

from pathlib import Path

import torch

from mplm_bench.tasks.base import TaskInputError
from mplm_bench.train.gguf_import import read_gguf
from mplm_bench.train.model import ModelConfig, TinyLlama
from mplm_bench.train.trainer import Trainer


def _shape(config: ModelConfig) -> tuple:
    """What must match to load weights, blocks aside (ffn 0 means its derived width)."""
    return (config.vocab_size, config.d_model, config.heads, config.ffn_width, config.context)


def start_from(trainer: Trainer, path: Path, freeze: bool = False) -> None:
    """Load a GGUF model's weights into the fresh trainer (continued training). A model
    with fewer blocks fills the first ones; the blocks above start as the identity (zero
    output projections), so the grown model first predicts exactly as the one it grew
    from. `freeze` keeps the loaded weights fixed: only the new blocks learn."""
    source, target = read_gguf(path), trainer.model
    if _shape(source.config) != _shape(target.config):
        raise TaskInputError(f"--init {path}: its shape {source.config} differs from the "
                             f"options' {target.config}")
    check_blocks(target.config.layers, freeze, source.config.layers)
    target.load_state_dict(source.state_dict(), strict=False)  # the new blocks keep theirs
    with torch.no_grad():
        for block in target.blocks[source.config.layers:]:
            block.o.weight.zero_()
            block.down.weight.zero_()
    if freeze:
        freeze_below(target, source.config.layers)


def check_blocks(layers: int, freeze: bool, init_layers: int) -> None:
    """--layers may add blocks to the --init model's, not remove them; --freeze-init needs some."""
    if layers < init_layers:
        raise TaskInputError(f"--layers {layers}: the --init model has {init_layers} "
                             "blocks; a model can grow from it, not shrink")
    if freeze and layers == init_layers:
        raise TaskInputError(f"--freeze-init: --layers {layers} adds no blocks to the "
                             f"--init model's {init_layers}; nothing would train")


def freeze_below(model: TinyLlama, layers: int) -> None:
    """Fix the embedding (also the output head), the final norm and the first `layers`
    blocks; AdamW leaves parameters without gradients as they are."""
    fixed = [model.embed, model.norm, *model.blocks[:layers]]
    for parameter in (p for module in fixed for p in module.parameters()):
        parameter.requires_grad_(False)
