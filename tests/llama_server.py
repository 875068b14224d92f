"""`python tests/llama_server.py ARGS` is `python -m llama_cpp.server ARGS` with the in-process
loader's choice of weight repacking: ggml's AMX kernels crash on VMs whose CPUs flag AMX,
and llama_cpp.server has no switch for it (the tests' real OpenAI-compatible server)."""
import llama_cpp.llama_cpp as llama_lib
from llama_cpp.server.__main__ import main

from mplm_bench.backends.llamacpp_load import _use_extra_bufts

_default_params = llama_lib.llama_model_default_params


def _model_params():
    params = _default_params()
    params.use_extra_bufts = _use_extra_bufts()
    return params


if __name__ == "__main__":
    llama_lib.llama_model_default_params = _model_params
    main()
