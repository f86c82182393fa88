"""QTable's performance benchmark: ``python -m bench`` (see ``bench.__main__``).

A real uvicorn server on a seeded database, driven over loopback HTTP by a load generator in
its own process, next to "ceiling" apps that do the least work the same answers need. Only
the ratios within one run mean something: the machine is shared and noisy.
"""
