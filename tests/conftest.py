"""Suite-wide settings."""

import os

from hypothesis import settings

# The machines are shared and noisy, and the first call of a compiled kernel loads it: a
# per-example deadline would measure the neighbours. Tests that guard against hangs set
# their own bound. In CI the examples are derived from the test, not drawn at random, so
# a run is reproducible; developers' runs keep exploring.
settings.register_profile("metagate", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "metagate")
