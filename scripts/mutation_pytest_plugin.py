"""pytest plugin for mutation runs (scripts/mutation.py): hypothesis without the shrink phase.

A mutant is caught when any example fails; shrinking that example to a minimal one changes nothing in the
verdict but can take minutes per failing property. The seed stays fixed (``--hypothesis-seed=0``).
"""

from hypothesis import Phase, settings

settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)
settings.load_profile("mutation")
