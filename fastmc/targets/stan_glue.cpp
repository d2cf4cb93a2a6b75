// fastmc's glue around one Stan model: compiled into the same translation unit as the C++ that
// stanc generates (fastmc/targets/stan.py appends `#include` of this file to it), so it sees the
// concrete class `stan_model` and calls its templated log_prob directly.
//
// It exports a C ABI only (every other symbol is hidden):
//   - fastmc_stan_logp: the signature of every fastmc C target,
//       int logp(size_t dim, const double* x, double* grad, double* lp, void* data),
//     where `data` points to one double whose bits are the model's address (fastmc's Target keeps
//     its data as a float64 array). The log density is on the unconstrained space with the
//     Jacobian, dropping constants (Stan's log_prob_grad<true, true>). Any exception (a failed
//     check_*, a domain error, `reject`) is return 1, a rejection the sampler counts; a
//     non-finite log density or gradient is 1 or 2, as in the other C targets; never a crash.
//   - construction from CmdStan JSON data, the variables' names and shapes, write_array (the
//     constrain step, with transformed parameters and generated quantities) and transform_inits.
// Strings handed to Python are malloc'ed here and freed by fastmc_stan_free_string.
//
// Threads: Stan's autodiff tape is thread-local (STAN_THREADS); every thread that calls in gets
// its own tape the first time, through the function-local thread_local below.

#include <stan/io/json/json_data.hpp>
#include <stan/version.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#define FASTMC_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

char* dup_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

void set_error(char** err, const std::string& what) {
  if (err != nullptr) *err = dup_string(what);
}

// The thread's autodiff tape: constructed on the first call from each thread, freed at its exit.
void ensure_tape() {
  static thread_local stan::math::ChainableStack tape;
  (void)tape;
}

const stan_model* as_model(void* data) {
  std::uintptr_t bits;
  std::memcpy(&bits, data, sizeof bits);
  return reinterpret_cast<const stan_model*>(bits);
}

// log density and gradient; 0, or the positive code of a rejection, with the exception's
// message in *msg when msg is given
int logp_impl(const stan_model& model, std::size_t dim, const double* x, double* grad, double* lp,
              std::string* msg) {
  ensure_tape();
  using stan::math::var;
  // the thread's input vector, reused: no heap allocation per call once it has its size (its
  // vars point into the tape, which recover_memory() empties; each call assigns them again)
  static thread_local Eigen::Matrix<var, Eigen::Dynamic, 1> xv;
  try {
    if (static_cast<std::size_t>(xv.size()) != dim) xv.resize(dim);
    for (std::size_t i = 0; i < dim; ++i) xv.coeffRef(i) = x[i];
    var v = model.template log_prob<true, true>(xv, nullptr);
    v.grad();
    *lp = v.val();
    for (std::size_t i = 0; i < dim; ++i) grad[i] = xv.coeff(i).adj();
    stan::math::recover_memory();
  } catch (const std::exception& e) {
    stan::math::recover_memory();
    if (msg != nullptr) *msg = e.what();
    *lp = -INFINITY;
    return 1;
  } catch (...) {  // nothing may cross the C ABI: a rejection too
    stan::math::recover_memory();
    if (msg != nullptr) *msg = "the model threw a C++ exception of unknown type";
    *lp = -INFINITY;
    return 1;
  }
  if (!std::isfinite(*lp)) {
    if (msg != nullptr) *msg = "the log density is " + std::to_string(*lp);
    return 1;
  }
  for (std::size_t i = 0; i < dim; ++i) {
    if (!std::isfinite(grad[i])) {
      if (msg != nullptr) *msg = "the gradient is not finite at coordinate " + std::to_string(i);
      return 2;
    }
  }
  return 0;
}

void join(std::ostringstream& out, const std::vector<std::string>& names,
          const std::vector<std::vector<size_t>>& dims, std::size_t from, std::size_t to,
          const char* kind) {
  for (std::size_t k = from; k < to; ++k) {
    out << kind << '\t' << names[k] << '\t';
    for (std::size_t a = 0; a < dims[k].size(); ++a) out << (a ? "," : "") << dims[k][a];
    out << '\n';
  }
}

}  // namespace

FASTMC_EXPORT int fastmc_stan_abi_version() { return 1; }

FASTMC_EXPORT const char* fastmc_stan_version() {
  return STAN_STRING(STAN_MAJOR) "." STAN_STRING(STAN_MINOR) "." STAN_STRING(STAN_PATCH);
}

FASTMC_EXPORT void fastmc_stan_free_string(char* s) { std::free(s); }

// A model instance with the data in `json` (CmdStan's JSON format); nullptr and *err on failure
// (Stan's message, which names a missing or mis-shaped variable).
FASTMC_EXPORT void* fastmc_stan_new(const char* json, unsigned int seed, char** err) {
  ensure_tape();
  try {
    std::istringstream in(json == nullptr ? "{}" : json);
    stan::json::json_data context(in);
    std::ostringstream msgs;
    auto* model = new stan_model(context, seed, &msgs);
    return model;
  } catch (const std::exception& e) {
    set_error(err, e.what());
  } catch (...) {
    set_error(err, "unknown C++ exception while reading the data");
  }
  return nullptr;
}

FASTMC_EXPORT void fastmc_stan_delete(void* model) { delete static_cast<stan_model*>(model); }

FASTMC_EXPORT std::size_t fastmc_stan_dim(void* model) {
  return static_cast<stan_model*>(model)->num_params_r();
}

// The variables, one per line "kind\tname\tdim0,dim1,..." with kind p (parameter), t (transformed
// parameter) or g (generated quantity), in write_array's order; then "u\tname" for each
// unconstrained coordinate (Stan's "theta.1" names).
FASTMC_EXPORT char* fastmc_stan_variables(void* model_) {
  const auto& model = *static_cast<stan_model*>(model_);
  std::vector<std::string> p, pt, ptg, u;
  std::vector<std::vector<size_t>> dp, dpt, dptg;
  model.get_param_names(p, false, false);
  model.get_param_names(pt, true, false);
  model.get_param_names(ptg, true, true);
  model.get_dims(dptg, true, true);
  model.unconstrained_param_names(u, false, false);
  std::ostringstream out;
  join(out, ptg, dptg, 0, p.size(), "p");
  join(out, ptg, dptg, p.size(), pt.size(), "t");
  join(out, ptg, dptg, pt.size(), ptg.size(), "g");
  for (const auto& name : u) out << "u\t" << name << '\n';
  return dup_string(out.str());
}

FASTMC_EXPORT int fastmc_stan_logp(std::size_t dim, const double* x, double* grad, double* lp,
                                   void* data) {
  return logp_impl(*as_model(data), dim, x, grad, lp, nullptr);
}

// As fastmc_stan_logp, with the reason for a rejection in *err: for messages at a start point.
FASTMC_EXPORT int fastmc_stan_logp_explained(void* model, std::size_t dim, const double* x, double* grad,
                                             double* lp, char** err) {
  std::string msg;
  int rc = logp_impl(*static_cast<stan_model*>(model), dim, x, grad, lp, &msg);
  if (rc != 0) set_error(err, msg);
  return rc;
}

// write_array for n unconstrained rows U (n, d) into out (n, m), m the number of values written
// (parameters, then transformed parameters if tparams, then generated quantities if gqs), each
// variable column-major as Stan writes it. Row i's generated quantities use Stan's generator
// (boost mixmax) seeded with (seed_hi, seed_lo, stream, first + i). A row whose write_array
// throws is NaN (Stan's own services do the same) and counted in the return value; its first
// message goes to *err.
FASTMC_EXPORT long fastmc_stan_write_array(void* model_, std::size_t n, const double* U, std::size_t m,
                                           double* out, int tparams, int gqs, std::uint32_t seed_hi,
                                           std::uint32_t seed_lo, std::uint32_t stream,
                                           std::uint32_t first, char** err) {
  ensure_tape();
  const auto& model = *static_cast<stan_model*>(model_);
  const std::size_t d = model.num_params_r();
  Eigen::VectorXd u(d), vars(m);
  long failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) u[j] = U[i * d + j];
    stan::rng_t rng(seed_hi, seed_lo, stream, first + static_cast<std::uint32_t>(i));
    try {
      model.write_array(rng, u, vars, tparams != 0, gqs != 0, nullptr);
      if (static_cast<std::size_t>(vars.size()) != m) throw std::runtime_error("write_array size changed");
      for (std::size_t j = 0; j < m; ++j) out[i * m + j] = vars[j];
    } catch (...) {
      if (failed == 0) {
        try {
          throw;
        } catch (const std::exception& e) {
          set_error(err, e.what());
        } catch (...) {
          set_error(err, "a C++ exception of unknown type");
        }
      }
      ++failed;
      for (std::size_t j = 0; j < m; ++j) out[i * m + j] = NAN;
    }
    stan::math::recover_memory();
  }
  return failed;
}

// Constrained values (CmdStan JSON with every parameter) -> the unconstrained vector out (d,);
// 0, or 1 with Stan's message in *err.
FASTMC_EXPORT int fastmc_stan_unconstrain(void* model_, const char* json, double* out, char** err) {
  ensure_tape();
  const auto& model = *static_cast<stan_model*>(model_);
  try {
    std::istringstream in(json);
    stan::json::json_data context(in);
    Eigen::VectorXd u;
    model.transform_inits(context, u, nullptr);
    for (Eigen::Index j = 0; j < u.size(); ++j) out[j] = u[j];
    return 0;
  } catch (const std::exception& e) {
    set_error(err, e.what());
  } catch (...) {
    set_error(err, "unknown C++ exception while transforming the initial values");
  }
  return 1;
}
