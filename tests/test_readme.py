"""The README's set-up commands and CI stay in step."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_the_two_commands():
    main_cmd, test_cmd = _readme_commands()
    assert "python -m bpfast" in main_cmd
    assert "pytest" in test_cmd and "[test]" in test_cmd


def test_ci_runs_exactly_the_readme_test_command():
    _, test_cmd = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd.strip() in [line.strip() for line in ci]
    assert any("venv" in line for line in ci)
