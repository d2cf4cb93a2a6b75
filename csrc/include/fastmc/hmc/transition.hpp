// What every HMC transition (static_hmc.hpp, nuts.hpp) reports, and the one divergence rule
// they share. Twin: fastmc/_numba/hmc/transition.py.
#pragma once
#include <cstdint>

namespace fastmc {

// A state whose energy exceeds the trajectory's initial energy by more than this is divergent
// (Stan's threshold); a non-finite energy is divergent too.
constexpr double kMaxEnergyError = 1000.0;

struct TransitionStats {
    double accept_stat;  // mean Metropolis acceptance probability over the trajectory's states
    double energy;       // Hamiltonian at the selected state
    double energy_error;      // its difference from the initial Hamiltonian (static HMC: the proposal's)
    double max_energy_error;  // the trajectory's largest difference in absolute value, with its sign
    int64_t depth;       // NUTS tree depth (0 for static HMC)
    int64_t n_leapfrog;  // leapfrog steps (= gradient evaluations)
    bool divergent;
    bool nonfinite;      // the trajectory reached a non-finite energy (log density or gradient)
};

}  // namespace fastmc
