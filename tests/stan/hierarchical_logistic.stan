// Hierarchical logistic regression: group intercepts around mu with scale tau
data {
  int<lower=1> N;
  int<lower=1> G;
  array[N] int<lower=1, upper=G> group;
  vector[N] x;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[G] z;
  real beta;
}
transformed parameters {
  vector[G] a = mu + tau * z;
}
model {
  mu ~ normal(0, 2);
  tau ~ normal(0, 1);
  z ~ std_normal();
  beta ~ normal(0, 2);
  y ~ bernoulli_logit(a[group] + beta * x);
}
