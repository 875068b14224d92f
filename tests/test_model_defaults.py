"""Per-task default models and a known model's --policy model defaults."""
from __future__ import annotations

from mplm_bench import models
from mplm_bench.runner import MODEL_BUDGETS, policy_budgets


def test_per_task_defaults_and_the_environment_override(monkeypatch):
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    # Sudoku runs the protocol model trained here; every other task the chat model
    assert models.default_model("sudoku") == "sudoku-protocol"
    assert models.default_model("sat") == models.default_model(None) == "smollm2-135m"
    monkeypatch.setattr(models, "TASK_DEFAULT_MODELS", {})
    assert models.default_model("sudoku") == "smollm2-135m"
    monkeypatch.setattr(models, "TASK_DEFAULT_MODELS", {"sudoku": "sudoku-protocol"})
    monkeypatch.setenv(models.MODEL_ENV, "smollm2-135m")
    assert models.default_model("sudoku") == "smollm2-135m"


def test_the_protocol_model_brings_its_budgets(monkeypatch):
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    by_name = models.run_defaults("sudoku-protocol", "sudoku")
    by_path = models.run_defaults(str(models.PROJECT_ROOT / "models" / "sudoku-protocol.gguf"))
    assert by_name == by_path == {"max_tokens": 2_000_000, "window": 2048, "max_live_kv": 1_000_000}
    assert models.run_defaults("smollm2-135m") == {} == models.run_defaults("/x/other.gguf")
    budgets = policy_budgets("model", 0, 0, 100, 60.0, by_name)
    assert (budgets.max_tokens, budgets.window, budgets.max_live_kv) == (2_000_000, 2048, 1_000_000)
    assert policy_budgets("model", 0, 0, 100, 60.0, by_name, 5000).max_live_kv == 5000
    assert policy_budgets("model", 64, 0, 100, 60.0, by_name).max_tokens == 64  # user wins
    plain = policy_budgets("model", 0, 0, 100, 60.0, {})
    assert (plain.max_tokens, plain.window) == (MODEL_BUDGETS.max_tokens, MODEL_BUDGETS.window)
    assert plain.max_live_kv == 0  # no limit
