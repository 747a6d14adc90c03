"""The password hasher new and rehashed passwords get."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's minimum parameters: 19 MiB, 2 iterations, 1 lane.

    A sign-in's hash takes tens of milliseconds where PBKDF2's 1,000,000 iterations take hundreds
    (docs/benchmarks.md, `make bench BENCH_ARGS="--only sign-in"`), and the memory cost is what
    makes guessing on GPUs expensive. Django rehashes a stored password whose algorithm or
    parameters differ from these at its next successful check.
    """

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
