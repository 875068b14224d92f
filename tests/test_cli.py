"""The command line as a user meets it: results files, resume, and one-line errors."""
import json
import subprocess
import sys

import pytest

from mplm_bench.results import ROWS_FILE

from cli_checks import invoke, one_line_error


def oracle_run(out, *extra):
    return invoke("run", "sudoku", "--size", "4", "--policy", "oracle", "--instances", "2",
                  "--out", str(out), *extra)


def rows_without_timing(path):
    rows = [json.loads(line) for line in (path / ROWS_FILE).read_text().splitlines()]
    for row in rows:
        row.pop("wall_s"), row.pop("decode_tok_s")
    return rows


def test_oracle_run_writes_results_and_run_record(tmp_path):
    result = oracle_run(tmp_path)
    assert result.exit_code == 0, result.output
    rows = rows_without_timing(tmp_path)
    assert [(r["instance_id"], r["paradigm"]) for r in rows] == [
        (f"n4-s{k}-singles", p) for k in (0, 1) for p in ("mplm", "cot", "fj")]
    assert all(r["status"] == "solved" and r["correct"] for r in rows)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["schema_version"] == 2 and len(record["model"]["sha256"]) == 64
    assert record["versions"]["llama_cpp_python"]
    assert "solved %" in result.output


def test_resume_after_a_killed_run_gives_the_same_rows(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert oracle_run(whole).exit_code == 0
    lines = (whole / ROWS_FILE).read_text().splitlines()
    cut.mkdir()
    (cut / ROWS_FILE).write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])  # torn third line
    result = oracle_run(cut, "--resume")
    assert result.exit_code == 0, result.output
    assert rows_without_timing(cut) == rows_without_timing(whole)


def test_a_second_run_into_a_used_folder_needs_resume(tmp_path):
    assert oracle_run(tmp_path).exit_code == 0
    before = (tmp_path / ROWS_FILE).read_text(), (tmp_path / "run.json").read_text()
    one_line_error(oracle_run(tmp_path), "already holds results; add --resume")
    assert ((tmp_path / ROWS_FILE).read_text(), (tmp_path / "run.json").read_text()) == before


def test_runs_started_in_the_same_second_get_their_own_default_folders(tmp_path, monkeypatch):
    from mplm_bench import console

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(console, "new_run_id", lambda task: f"{task}-20261130-040000")
    folders = []
    for _ in range(3):
        folders.append(console.default_out("sudoku"))
        folders[-1].mkdir(parents=True)
    assert [f.name for f in folders] == ["sudoku-20261130-040000", "sudoku-20261130-040000-2",
                                         "sudoku-20261130-040000-3"]


@pytest.mark.parametrize("args, words", [
    (["--size", "10"], "--size must be one of 4, 9, 16, 25"),
    (["--instances", "0"], "--instances must be at least 1"),
    (["--paradigms", "mplm,tot"], "unknown paradigm 'tot'"),
    (["--policy", "magic"], "--policy must be model, oracle, replay"),
    (["--model", "/nonexistent/model.gguf"], "model file not found"),
    (["--out", "/proc/version/sub"], "cannot write to output folder"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, tmp_path):
    base = ["run", "sudoku", "--policy", "oracle", "--instances", "1", "--out", str(tmp_path / "o")]
    one_line_error(invoke(*base, *args), words)
    assert not (tmp_path / "o").exists()  # refused before the folder is made


def test_a_text_file_is_not_a_model(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("hello")
    one_line_error(oracle_run(tmp_path / "o", "--model", str(fake)), "not a GGUF model file")


def test_a_malformed_puzzle_file_names_its_line(tmp_path):
    puzzles = tmp_path / "p.txt"
    puzzles.write_text("# two puzzles\n" + "." * 16 + "\n" + "5" * 80 + "\n")
    result = oracle_run(tmp_path / "o", "--puzzles", str(puzzles))
    one_line_error(result, "p.txt:3:")


def test_the_installed_command_reports_errors_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mplm_bench.cli", "run", "sudoku", "--size", "10",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --size must be one of 4, 9, 16, 25, got 10"


@pytest.mark.parametrize("args, start, end", [
    (["run", "sudoku", "--size", "abc"], "error: Invalid value for '--size'",
     "(see mplm-bench run sudoku --help)"),
    (["run", "sudok"], "error: No such command 'sudok'", "(see mplm-bench run --help)"),
    (["eval-steps", "m.gguf", "--errors", "-1"], "error: Invalid value for '--errors'",
     "(see mplm-bench eval-steps --help)"),
    (["run", "sudoku", "--max-threads", "-1"], "error: Invalid value for '--max-threads'",
     "(see mplm-bench run sudoku --help)"),
    (["run", "sudoku", "--max-live-kv", "-5"], "error: Invalid value for '--max-live-kv'",
     "(see mplm-bench run sudoku --help)"),
])
def test_usage_errors_of_the_installed_command_are_one_line(args, start, end):
    """The reason between the two ends is Typer's wording, which its versions change."""
    done = subprocess.run([sys.executable, "-m", "mplm_bench.cli", *args],
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr.count("\n")) == (2, "", 1)
    assert done.stderr.startswith(start) and done.stderr.endswith(end + "\n")


def test_the_installed_command_without_arguments_prints_the_help():
    done = subprocess.run([sys.executable, "-m", "mplm_bench.cli"], capture_output=True, text=True)
    assert done.returncode == 2 and "Usage: mplm-bench [OPTIONS] COMMAND" in done.stdout + done.stderr


def test_version_prints_the_package_version():
    from mplm_bench import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.output == f"mplm-bench {__version__}\n"


@pytest.mark.parametrize("option", ["--seed", "--temperature", "--ctx", "--threads"])
def test_a_negative_count_is_a_usage_error_of_one_line(option, tmp_path):
    done = subprocess.run([sys.executable, "-m", "mplm_bench.cli", "run", "sudoku", "--policy",
                           "oracle", option, "-1", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: Invalid value for '{option}'")
    assert len(done.stderr.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_models_and_tasks_list_what_there_is(monkeypatch):
    monkeypatch.delenv("MPLM_BENCH_MODEL", raising=False)
    assert "SmolLM2-135M-Instruct" in invoke("models").output
    assert "is set" not in invoke("models").output
    assert "sudoku" in invoke("tasks").output
    monkeypatch.setenv("MPLM_BENCH_MODEL", "mine.gguf")
    assert "$MPLM_BENCH_MODEL is set: every task's default is now mine.gguf" in invoke("models").output


def test_trace_then_show_prints_the_threads(tmp_path):
    assert oracle_run(tmp_path, "--trace").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "traces").iterdir()) == [
        f"n4-s{k}-singles-{p}.jsonl" for k in (0, 1) for p in ("cot", "fj", "mplm")]
    shown = invoke("show", str(tmp_path), "n4-s1-singles", "--paradigm", "cot")
    assert shown.exit_code == 0, shown.output
    assert "n4-s1-singles cot: solved" in shown.output and "@answer" in shown.output


def test_show_names_what_is_wrong_with_its_arguments(tmp_path):
    assert oracle_run(tmp_path, "--trace").exit_code == 0
    one_line_error(invoke("show", tmp_path / "nope", "n4-s0-singles"), "no such run folder")
    one_line_error(invoke("show", tmp_path, "n4-s0-singles", "--paradigm", "zz"),
                   "unknown paradigm 'zz'")
    one_line_error(invoke("show", tmp_path, "n4-s7-singles"),
                   "no rows for instance 'n4-s7-singles'")


def test_show_without_traces_is_one_line(tmp_path):
    assert oracle_run(tmp_path).exit_code == 0
    one_line_error(invoke("show", str(tmp_path), "n4-s0-singles"), "run with --trace")


@pytest.mark.parametrize("command", [["train", "sudoku", "--out", "m.gguf"],
                                     ["eval-steps", "m.gguf"]])
def test_training_without_the_train_extra_is_one_line(command, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)  # `import gguf` raises ImportError
    one_line_error(invoke(*command), "train and eval-steps need the train extra")


@pytest.mark.parametrize("command, target, advice", [
    (["run", "sudoku", "--policy", "oracle"], "run_and_show", "rerun with --resume --out D"),
    (["suite", "run", "tasks/ci.toml"], "run_suite", "rerun with --out D to finish"),
])
def test_ctrl_c_says_what_to_do_next_for_that_command(command, target, advice, monkeypatch,
                                                      tmp_path):
    from mplm_bench import console

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(console, target, interrupted)
    result = invoke(*command, "--out", tmp_path)
    assert result.exit_code == 130
    assert result.output.strip() == (f"interrupted: finished rows are saved in {tmp_path}; "
                                     + advice.replace("D", str(tmp_path)))


@pytest.mark.parametrize("widths, got", [("0", "got 0"), ("8,-4", "got -4"),
                                         ("1,1000,257", "got 1000, 257")])
def test_bench_decode_refuses_bad_widths_before_loading_a_model(widths, got, tmp_path):
    # a model that does not exist: the check must come before it is looked for
    result = invoke("bench", "decode", "--threads", widths, "--model", tmp_path / "none.gguf")
    one_line_error(result, f"--threads: batch widths must be 1 to 256, {got}")
