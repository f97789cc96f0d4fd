"""The README's set-up commands and CI stay in step; the README and the pages
under docs/ keep the facts they share with the project's files, and their links
and headings hold for a reader and for Sphinx."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The wheel's test runs (scripts/build_wheel.sh, cibuildwheel's test-sources) copy
# docs/ beside tests/ as well, so the checks on its pages run there too.
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)[:2]


def _prose(text):
    """The text outside fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def test_readme_starts_with_the_two_commands():
    main_cmd, test_cmd = _readme_commands()
    assert main_cmd.strip() == "pip install -e . && python -m bpfast"
    assert test_cmd.strip() == 'pip install -e ".[test]" && python -m pytest -q tests'
    text = (ROOT / "README.md").read_text()
    assert text.index(main_cmd) < text.index("\n## ")


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
    install = (ROOT / "docs" / "install.md").read_text()
    names = re.search(r"`tests/test_\{([a-z_,]+)\}\.py`", install).group(1).split(",")
    assert sorted(subset) == sorted(f"tests/test_{name}.py" for name in names)
    assert all((ROOT / path).is_file() for path in subset)


def test_the_aarch64_leg_and_cibuildwheel_test_the_same_subset():
    """CI's aarch64 leg (qemu-user) and cibuildwheel's manylinux aarch64
    wheels run the same focused subset of the tests, named in
    docs/cpu-levels.md."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "bash .ci/aarch64-leg.sh" in [line.strip() for line in ci]
    script = (ROOT / ".ci" / "aarch64-leg.sh").read_text()
    subset = re.search(r"^SUBSET=\((.*?)\)", script, flags=re.S | re.M).group(1).split()
    pyproject = (ROOT / "pyproject.toml").read_text()
    override = re.search(r'^select = "\*-manylinux_aarch64"\n(?:[^\[].*\n)*?test-command = "(.*)"',
                         pyproject, flags=re.M)
    assert override, "no [[tool.cibuildwheel.overrides]] for *-manylinux_aarch64"
    command = [word for word in override.group(1).split() if word.startswith("tests/")]
    assert command == subset
    # the same requirements: the leg's picks from the test extra
    picks = re.search(r"^FROM_TEST_EXTRA=\((.*?)\)", script, flags=re.M).group(1).split()
    requires = re.search(r'^select = "\*-manylinux_aarch64"\n(?:[^\[].*\n)*?test-requires = \[(.*)\]',
                         pyproject, flags=re.M).group(1)
    assert sorted(re.findall(r'"([A-Za-z0-9_.-]+)', requires)) == sorted(picks)
    assert all((ROOT / path).is_file() for path in subset)
    levels = (ROOT / "docs" / "cpu-levels.md").read_text()
    assert all(f"`{path}`" in levels for path in subset)


@pytest.mark.parametrize("page", ["README.md", "docs/install.md"])
def test_documented_floors_are_pyprojects(page):
    pyproject = (ROOT / "pyproject.toml").read_text()
    text = (ROOT / page).read_text()
    floors = dict(re.findall(r'^\s*"([a-z-]+)>=([0-9.]+)"', pyproject, flags=re.M))
    floors["Python"] = re.search(r'^requires-python = ">=([0-9.]+)"', pyproject,
                                 flags=re.M).group(1)
    for name in ("Python", "numpy", "scipy", "scikit-learn", "threadpoolctl"):
        assert re.search(rf"^\| {name} \| >= {re.escape(floors[name])}\b", text,
                         flags=re.M), name


def test_readme_is_what_a_user_reads():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 160
    assert ('pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html'
            in text)


def test_readme_links_and_images_exist():
    text = _prose((ROOT / "README.md").read_text())
    targets = LINK.findall(text) + IMAGE.findall(text)
    assert any(t.startswith("docs/") for t in targets)
    for target in targets:
        if "://" in target:
            continue
        assert (ROOT / target.split("#")[0]).exists(), target


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_page_headings_are_one_title_and_consecutive(page):
    levels = [len(m.group(1)) for m in
              re.finditer(r"^(#+) \S", _prose(page.read_text()), flags=re.M)]
    assert levels and levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_page_links_stay_inside_docs(page):
    text = _prose(page.read_text())
    for target in LINK.findall(text) + IMAGE.findall(text):
        if "://" in target or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT / "docs"), target
        assert path.exists(), target
