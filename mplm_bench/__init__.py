"""mplm-bench: message passing, chain of thought and fork-join, side by side on llama.cpp."""

# llama.cpp must load before pandas: pyarrow, which pandas imports when present, bundles C++
# libraries whose symbols crash llama.cpp's tokenizer if they load first (seen on a CUDA
# box). Every module of the package comes through here, so this is the one place for it.
import llama_cpp  # noqa: F401

__version__ = "0.1.0"
