"""Suite-wide settings."""

from hypothesis import settings

# The machines are shared and noisy, and the first call of a compiled kernel loads it from
# the cache: a per-example deadline would measure the neighbours. Tests that guard against
# hangs set their own bound.
settings.register_profile("metagate", deadline=None)
settings.load_profile("metagate")
