"""The README's chart: bpfast's gain over scikit-learn, case by case, from one
committed run of benchmarks/compare.py.

    python benchmarks/plot_summary.py            # compare-wheel-avx512.json -> docs/_static/
    python benchmarks/plot_summary.py --results benchmarks/results/compare.json \\
        --out /tmp/summary.png

One bar a case: scikit-learn's time (or memory) over bpfast's, on a log scale, with the
case's target as a tick where it has a gain target. Cases whose roofline measurement
compare.py flagged as disturbed are left out, as the README's tables leave them out.
The title names the run: machine, threads, date, bpfast's build.
"""
import argparse
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "compare-wheel-avx512.json"
OUT = ROOT / "docs" / "_static" / "benchmark-summary.png"


def load(path):
    data = json.loads(pathlib.Path(path).read_text())
    cases = [c for c in data["cases"] if not c.get("roofline_disturbed")]
    return data["environment"], cases


def plot(environment, cases, out, label):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c["name"] for c in cases][::-1]
    gains = [c["gain"] for c in cases][::-1]
    targets = [c["target"].get("gain") for c in cases][::-1]
    colours = ["#2a7ab9" if c.get("met", True) is not False else "#d9822b"
               for c in cases][::-1]

    fig, ax = plt.subplots(figsize=(8, 0.42 * len(cases) + 1.3))
    bars = ax.barh(names, gains, color=colours)
    ax.set_xscale("log")
    ax.axvline(1, color="black", linewidth=0.8)
    for y, (bar, gain, target) in enumerate(zip(bars, gains, targets)):
        ax.text(gain * 1.04, y, f"{gain:.3g}×", va="center", fontsize=8)
        if target:
            ax.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=1.5)
    top = max(gains + [t for t in targets if t])
    ax.set_xlim(0.8, top * 1.6)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if t <= top * 1.6]
    ax.set_xticks(ticks, [f"{t}×" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("gain: scikit-learn's time (memory-*: memory) over bpfast's\n"
                  "black ticks: the case's target; orange: a target (gain or % of "
                  "roofline) missed in this run",
                  fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(f"bpfast ({label}) against scikit-learn "
                 f"{environment['versions']['scikit-learn']}: "
                 f"{environment['cpu']}, {environment['threads']} threads, "
                 f"{environment['date'][:10]}", fontsize=9)
    fig.tight_layout()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--label", default="the wheel",
                        help="which build made the results, for the title")
    args = parser.parse_args(argv)
    environment, cases = load(args.results)
    print(plot(environment, cases, args.out, args.label))


if __name__ == "__main__":
    main()
