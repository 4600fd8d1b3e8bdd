"""Training: the job queue and worker processes, one run start to finish, the coach, optimizers, devices."""
