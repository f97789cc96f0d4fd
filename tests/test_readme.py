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


def test_ci_runs_the_version_legs_on_the_documented_subset():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "bash .ci/version-legs.sh" in [line.strip() for line in ci]
    script = (ROOT / ".ci" / "version-legs.sh").read_text()
    subset = re.search(r"^SUBSET=\((.*?)\)", script, flags=re.S | re.M).group(1).split()
    readme = (ROOT / "README.md").read_text()
    names = re.search(r"`tests/test_\{([a-z_,]+)\}\.py`", readme).group(1).split(",")
    assert sorted(subset) == sorted(f"tests/test_{name}.py" for name in names)
    assert all((ROOT / path).is_file() for path in subset)


def test_readme_floors_are_pyprojects():
    pyproject = (ROOT / "pyproject.toml").read_text()
    readme = (ROOT / "README.md").read_text()
    floors = dict(re.findall(r'^\s*"([a-z-]+)>=([0-9.]+)"', pyproject, flags=re.M))
    floors["Python"] = re.search(r'^requires-python = ">=([0-9.]+)"', pyproject,
                                 flags=re.M).group(1)
    for name in ("Python", "numpy", "scipy", "scikit-learn", "threadpoolctl"):
        assert re.search(rf"^\| {name} \| >= {re.escape(floors[name])}\b", readme,
                         flags=re.M), name
