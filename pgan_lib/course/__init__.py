"""Coursework: exercise checks, student copies, and notebooks whose outputs match the library.

The top layer of the kit: it may import anything in ``pgan_lib``; nothing in the
library imports it.

    check.py       the check framework: ``exercise_check``, ``compare``, ``expect``, ``check_answer``,
                   ``CheckResult`` (passed, status, message); every check prints one PASS / FAIL /
                   NOT DONE line and never raises
    attributes.py  notebook 00: shade and width from pixels, the share of wide coats
    vae.py         notebook 01: reparameterisation sample, closed-form Gaussian KL
    cvae.py        notebook 02: conditional negative ELBO, the bag-of-words condition
    gan.py         notebook 03: D and G losses (non-saturating, hinge), update_D / update_G and a short run
    cgan.py        notebook 04: projection discriminator logit, EMA update
    text.py        notebook 05: masked mean pooling, the symmetric InfoNCE loss
    latent.py      notebook 06: an attribute direction from scored samples, slerp, a dark wide pullover design
    attacks.py     notebook 08: one FGSM step, one projected PGD step (attacks on the shipped classifiers)
    metrics.py     notebook 09: FID with the matrix square root, unbiased KID, the one-class Inception Score
    scale.py       notebook 11: a data-parallel shard, the large-batch learning rate, training memory
    responsible.py notebook 12: its own checks (print PASS / FAIL, return a bool)
    student.py     student copies from the instructor notebooks (nbgrader's markers, no nbgrader needed)
    freshness.py   fingerprints of the library and of a notebook's code, recorded when it is executed
    execute.py     executes notebooks in place (quick mode) and records the fingerprint

The command line is ``pgan course student | execute | check-fresh`` (``pgan_lib/cli/course.py``).

An exercise in a notebook is two cells (nbgrader's form):

    # solution cell (nbgrader: solution, grade_id)       # check cell (nbgrader: grade, locked, points)
    def kl_divergence(mu, logvar):                       from pgan_lib.course.vae import check_kl_divergence
        ### BEGIN SOLUTION                                result = check_kl_divergence(kl_divergence)
        return 0.5 * (...).sum(1)                         ### BEGIN HIDDEN TESTS
        ### END SOLUTION                                  assert result.passed, result.line()
                                                          ### END HIDDEN TESTS

In the student copy the solution becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()``
and the check prints ``NOT DONE: ...: not implemented yet``; the hidden assert (restored by
``nbgrader autograde``) is what grades.
"""
