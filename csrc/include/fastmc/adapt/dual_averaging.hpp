// Nesterov dual averaging of log step size (Hoffman & Gelman 2014, with Stan's defaults and
// update order). Twin: fastmc/_numba/adapt/dual_averaging.py.
#pragma once
#include <cmath>
#include <cstdint>

namespace fastmc {

struct DualAveraging {
    double delta, gamma, kappa, t0;  // target acceptance statistic and the three tuning constants
    double mu = 0.0, s_bar = 0.0, x_bar = 0.0;
    double counter = 0.0;

    void restart(double new_mu) {
        mu = new_mu;
        counter = 0.0;
        s_bar = 0.0;
        x_bar = 0.0;
    }

    // One observation of the acceptance statistic; returns the next step size exp(x).
    double update(double accept_stat) {
        counter += 1.0;
        const double a = accept_stat > 1.0 ? 1.0 : accept_stat;
        const double eta = 1.0 / (counter + t0);
        s_bar = (1.0 - eta) * s_bar + eta * (delta - a);
        const double x = mu - s_bar * std::sqrt(counter) / gamma;
        const double x_eta = std::pow(counter, -kappa);
        x_bar = (1.0 - x_eta) * x_bar + x_eta * x;
        return std::exp(x);
    }

    // The step size kept after warm-up.
    double final_step() const { return std::exp(x_bar); }
};

}  // namespace fastmc
