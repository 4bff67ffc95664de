"""One module per notebook, named like it (also its preset key and figure prefix).

Each holds what is particular to its notebook: the recipe that turns the
notebook's settings into models, arrays and tables, and the closing summary.
No study imports another; what two studies share lives below them
(``geomlib.models``, ``geomlib.methods.analysis``, ...).
"""
