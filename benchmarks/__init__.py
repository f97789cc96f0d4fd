"""asv benchmark suites for bpfast (``bench_*.py``); see ``asv.conf.json``.

asv imports every module of this package to discover benchmarks, so modules
here must be import-safe (scripts such as ``compare.py`` keep their work under
``if __name__ == "__main__":``) and only the suites should define names that
start with ``time_``, ``peakmem_``, ``mem_``, ``track_`` or ``timeraw_``.
"""
