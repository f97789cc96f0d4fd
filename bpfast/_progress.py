"""Per-epoch progress for verbose fits.

With tqdm installed and an interactive terminal on stderr: a tqdm bar over
epochs, with the loss and the validation score in its postfix. Otherwise
(no tqdm, or output captured by a file, pipe, notebook log or test runner):
scikit-learn's plain lines ("Iteration 3, loss = 0.12345678", "Validation
score: 0.950000"). BPFAST_PROGRESS=tqdm or BPFAST_PROGRESS=plain forces one.
"""

import os
import sys


class PlainProgress:
    def epoch(self, n_iter, loss):
        print("Iteration %d, loss = %.8f" % (n_iter, loss))

    def validation(self, score):
        print("Validation score: %f" % score)

    def write(self, msg):
        print(msg)

    def close(self):
        pass


class TqdmProgress:
    def __init__(self, total, tqdm):
        self._bar = tqdm(total=total, unit="epoch", desc="bpfast", leave=True)
        self._tqdm = tqdm
        self._postfix = {}

    def epoch(self, n_iter, loss):
        self._postfix["loss"] = "%.6f" % loss
        self._bar.set_postfix(self._postfix, refresh=False)
        self._bar.update(1)

    def validation(self, score):
        self._postfix["val_score"] = "%.4f" % score
        self._bar.set_postfix(self._postfix)

    def write(self, msg):
        self._tqdm.write(msg)

    def close(self):
        self._bar.close()


def make_progress(verbose, total):
    """None when not verbose; else a progress reporter (see module doc)."""
    if not verbose:
        return None
    choice = os.environ.get("BPFAST_PROGRESS", "").strip().lower()
    if choice == "tqdm" or (choice != "plain" and _interactive()):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            return TqdmProgress(total, tqdm)
    return PlainProgress()


def _interactive():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
