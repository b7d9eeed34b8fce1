"""The exercise-check framework: run a student's function on fixed inputs and say PASS or FAIL.

A check is a function ``check_x(student_fn) -> CheckResult`` written with the
``@exercise_check("name")`` decorator. Inside, it calls the student's function
on small fixed inputs and compares with the library's reference:

    compare(out, ref, what="KL")      -> raises Fail with a hint (shape, sign, scale, ...) on a mismatch
    expect(condition, "hint")         -> raises Fail("hint") when the condition is false
    return "what was verified"        -> PASS with that message

The decorator turns the outcome into a ``CheckResult`` and prints one line:

    PASS: <name>: <message>
    FAIL: <name>: <hint that names what is wrong, never the answer>
    NOT DONE: <name>: not implemented yet (...)    when the student's code raises NotImplementedError

A check never raises (a crash inside the student's code is a FAIL naming the
exception), so a notebook keeps running; tests and graders read
``result.passed`` / ``result.status``. ``check_answer`` does the same for a
number asked for in a question, with a tolerance band around the library's value.

Relative error, as in most courses: rel_error(a, b) = max |a - b| / max(|a| + |b|, 1e-8),
element-wise; the default tolerance is 1e-5 (float32 arithmetic in a different order).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

PASS, FAIL, NOT_DONE = "pass", "fail", "not-done"
NOT_DONE_TEXT = "not implemented yet"


@dataclass(frozen=True)
class CheckResult:
    """What one check found: ``passed``, ``status`` ("pass", "fail" or "not-done") and the printed message."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def not_done(self) -> bool:
        return self.status == NOT_DONE

    def line(self) -> str:
        head = {PASS: "PASS", FAIL: "FAIL", NOT_DONE: "NOT DONE"}[self.status]
        return f"{head}: {self.name}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.line()

    def _ipython_display_(self) -> None:
        """A check has printed its line already; as a cell's last value it shows nothing more."""


class Fail(Exception):
    """Raised inside a check: the student's answer is wrong; the message is the hint shown."""


def expect(condition: bool, hint: str) -> None:
    """Fail with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise Fail(hint)


def rel_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|, 1e-8), element-wise, as a float."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp(min=1e-8)).max())


def as_tensor_or_fail(out: Any, what: str) -> torch.Tensor:
    """The student's output as a tensor (a number counts), or Fail naming what came back instead."""
    if out is None:
        raise Fail(f"{what}: your function returned None; did you forget `return`?")
    if isinstance(out, (int, float)):
        return torch.tensor(float(out))
    if not isinstance(out, torch.Tensor):
        raise Fail(f"{what}: expected a torch tensor, got {type(out).__name__}")
    return out


def compare(out: Any, ref: torch.Tensor, what: str = "output", tol: float = 1e-5) -> float:
    """Compare the student's ``out`` with the reference ``ref``; return the relative error or raise Fail.

    The hint names the kind of mismatch: shape, a non-finite value, sign,
    a constant scale factor, an offset, or "values differ" as a last resort.
    """
    out = as_tensor_or_fail(out, what)
    ref = torch.as_tensor(ref)
    if out.shape != ref.shape:
        if out.numel() == ref.numel():
            raise Fail(f"{what}: shape {tuple(out.shape)}, expected {tuple(ref.shape)} (right numbers, wrong shape?)")
        extra = ""
        if out.ndim == ref.ndim + 1:
            extra = " (one axis too many: did you forget to sum or average over one?)"
        elif out.ndim < ref.ndim:
            extra = " (an axis too few: did you reduce over the batch as well?)"
        raise Fail(f"{what}: shape {tuple(out.shape)}, expected {tuple(ref.shape)}{extra}")
    o, r = out.detach().double().cpu(), ref.detach().double().cpu()
    if not torch.isfinite(o).all():
        raise Fail(f"{what}: contains nan or inf (a log or division of something that can be 0?)")
    err = rel_error(o, r)
    if err <= tol:
        return err
    if rel_error(-o, r) <= tol:
        raise Fail(f"{what}: the sign is flipped (rel. error {err:.2g})")
    nz = r.abs() > 1e-6
    if nz.any():
        ratio = o[nz] / r[nz]
        k = float(ratio.median())
        if abs(k) > 1e-8 and rel_error(o, k * r) <= max(tol, 1e-4) and rel_error(k, 1.0) > 1e-3:
            raise Fail(f"{what}: off by a constant factor of about {k:.3g} (a missing or extra scale: "
                       f"1/2, a mean instead of a sum, a square?)")
    d = o - r
    if r.numel() > 1 and float(d.std()) <= 1e-4 * (float(r.abs().mean()) + 1e-8) and float(d.abs().mean()) > 1e-6:
        raise Fail(f"{what}: off by a constant of about {float(d.mean()):.3g} (a missing or extra term?)")
    raise Fail(f"{what}: values differ from the reference (rel. error {err:.2g}, tolerance {tol:g})")


def _not_done(err: BaseException) -> bool:
    return isinstance(err, NotImplementedError)


def exercise_check(name: str) -> Callable[[Callable[..., str | None]], Callable[..., CheckResult]]:
    """Decorator: the wrapped check returns a message on success or raises Fail; see the module docstring."""

    def wrap(body: Callable[..., str | None]) -> Callable[..., CheckResult]:
        @functools.wraps(body)
        def run(*args: Any, quiet: bool = False, **kwargs: Any) -> CheckResult:
            if any(a is None for a in args):
                result = CheckResult(name, NOT_DONE, f"{NOT_DONE_TEXT} (nothing to check: the answer is still None)")
            else:
                try:
                    msg = body(*args, **kwargs)
                    result = CheckResult(name, PASS, msg or "matches the reference")
                except Fail as err:
                    result = CheckResult(name, FAIL, str(err))
                except NotImplementedError:
                    result = CheckResult(name, NOT_DONE, f"{NOT_DONE_TEXT} (replace `raise NotImplementedError()` "
                                                         "with your code, run that cell, then this one)")
                except Exception as err:  # the student's code crashed: say how, keep the notebook going
                    result = CheckResult(name, FAIL, f"your code raised {type(err).__name__}: {err}")
            if not quiet:
                print(result.line())
            return result

        run.check_name = name  # type: ignore[attr-defined]
        return run

    return wrap


def check_answer(name: str, value: Any, expected: float, tol: float, unit: str = "",
                 hint_low: str = "too low", hint_high: str = "too high", quiet: bool = False) -> CheckResult:
    """An answer check: PASS when |value - expected| <= tol (``expected`` computed by the library).

    The message gives the band's direction only (too low / too high), never the value.
    """
    if value is None:
        result = CheckResult(name, NOT_DONE, f"{NOT_DONE_TEXT} (the answer is still None)")
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            result = CheckResult(name, FAIL, f"expected a number, got {type(value).__name__}")
        else:
            if not math.isfinite(v):
                result = CheckResult(name, FAIL, f"expected a finite number, got {v}")
            elif abs(v - expected) <= tol:
                result = CheckResult(name, PASS, f"{v:g}{unit} is within the accepted band")
            else:
                result = CheckResult(name, FAIL, f"{v:g}{unit} is {hint_low if v < expected else hint_high}")
    if not quiet:
        print(result.line())
    return result


def require_passed(*results: CheckResult) -> None:
    """For a graded (hidden-test) cell: raise AssertionError with the message unless every result passed."""
    for r in results:
        assert r.passed, r.line()
