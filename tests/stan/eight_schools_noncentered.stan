// Eight schools, non-centred (posteriordb: eight_schools-eight_schools_noncentered)
data {
  int<lower=0> J;
  array[J] real y;
  array[J] real<lower=0> sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta_tilde;
}
transformed parameters {
  vector[J] theta = mu + tau * theta_tilde;
}
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  theta_tilde ~ normal(0, 1);
  y ~ normal(theta, sigma);
}
generated quantities {
  array[J] real y_rep = normal_rng(theta, sigma);
  // index-order check: layout[i, j] = 10 * i + j, and an array of vectors
  matrix[2, 3] layout;
  array[2] vector[3] nested;
  for (i in 1:2) {
    for (j in 1:3) {
      layout[i, j] = 10 * i + j;
      nested[i][j] = 100 * i + j;
    }
  }
}
