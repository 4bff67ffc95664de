"""Tools around the studies: ``scale`` (descriptors at scale on Ray), ``plotting``,
``ledger`` (claims and verdicts) and ``report`` (printed summaries)."""
