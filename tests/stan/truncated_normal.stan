// A standard normal restricted to x > 0.5 by a reject statement (not by a declared bound): the
// sampler sees exceptions on part of the space and must reject them
parameters {
  real x;
}
model {
  if (x < 0.5) reject("x must be at least 0.5, got ", x);
  x ~ normal(0, 1);
}
