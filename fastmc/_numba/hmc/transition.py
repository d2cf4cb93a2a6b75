"""What every HMC transition shares. Twin: csrc/include/fastmc/hmc/transition.hpp."""

# A state whose energy exceeds the trajectory's initial energy by more than this is divergent
# (Stan's threshold); a non-finite energy is divergent too.
MAX_ENERGY_ERROR = 1000.0
