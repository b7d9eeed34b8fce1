"""Coursework tooling: every check passes on the reference, says "not implemented yet" on the stub and
fails on typical wrong answers; student copies; freshness fingerprints; the notebooks' exercises."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from pgan_lib.course import attributes as c00
from pgan_lib.course import cgan as c04
from pgan_lib.course import cvae as c02
from pgan_lib.course import freshness, student
from pgan_lib.course import gan as c03
from pgan_lib.course import vae as c01
from pgan_lib.course.check import CheckResult, Fail, check_answer, compare
from pgan_lib.data import attributes as A
from pgan_lib.models import gan as Gm
from pgan_lib.models import vae as V
from pgan_lib.models.ema import ema_update

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def stub(*args, **kwargs):
    raise NotImplementedError()


def assert_pass(result: CheckResult):
    assert isinstance(result, CheckResult)
    assert result.passed, result.line()
    assert result.line().startswith("PASS: ")


def assert_not_done(result: CheckResult):
    assert not result.passed and result.not_done, result.line()
    assert "not implemented yet" in result.message


def assert_fail(result: CheckResult, *words: str):
    assert result.status == "fail", result.line()
    assert result.line().startswith("FAIL: ")
    for w in words:
        assert w in result.message, f"{w!r} not in {result.message!r}"


# ----------------------------------------------------------------------------- the framework

def test_compare_names_the_mismatch():
    ref = torch.tensor([1.0, -2.0, 3.0])
    assert compare(ref + 1e-9, ref) < 1e-5
    for out, word in [(ref[:2], "shape"), (-ref, "sign"), (2 * ref, "factor"), (ref + 0.5, "constant"),
                      (torch.tensor([1.0, float("nan"), 3.0]), "nan"), (None, "None"), ([1, 2, 3], "tensor"),
                      (torch.tensor([1.0, 5.0, 3.0]), "differ")]:
        with pytest.raises(Fail, match=word):
            compare(out, ref)


def test_a_crash_in_student_code_is_a_fail_not_an_exception(capsys):
    r = c01.check_kl_divergence(lambda mu, logvar: mu.nonexistent)
    assert_fail(r, "AttributeError")
    assert "FAIL: kl_divergence" in capsys.readouterr().out


def test_answer_check_band():
    assert_pass(check_answer("q", 0.305, 0.30, 0.01, quiet=True))
    assert_fail(check_answer("q", 0.35, 0.30, 0.01, quiet=True), "too high")
    assert_fail(check_answer("q", "a lot", 0.30, 0.01, quiet=True), "number")
    assert_not_done(check_answer("q", None, 0.30, 0.01, quiet=True))


# ----------------------------------------------------------------------------- notebook 00

def my_shade_all_pixels(images):
    return images.float().flatten(1).mean(1) / 255


def test_00_shade_value():
    assert_pass(c00.check_shade_value(A.shade_value))
    assert_not_done(c00.check_shade_value(stub))
    assert_fail(c00.check_shade_value(my_shade_all_pixels), "background")
    assert_fail(c00.check_shade_value(lambda x: A.shade_value(x) * 255), "255")


def _width_every_row(images):
    ink = (images.float() / 255)[:, 0] >= A.INK_THRESHOLD
    cols = torch.arange(28)
    span = torch.where(ink.any(-1), torch.where(ink, cols, -1).amax(-1) - torch.where(ink, cols, 28).amin(-1) + 1, 0)
    return span.float().sum(-1) / 28 / 28


def test_00_width_value():
    assert_pass(c00.check_width_value(A.width_value))
    assert_not_done(c00.check_width_value(stub))
    assert_fail(c00.check_width_value(_width_every_row), "rows that hold product")
    assert_fail(c00.check_width_value(lambda x: A.width_value(x) * 28), "divide by the image width")


def test_00_wide_coat_share():
    right = c00.wide_coat_share()
    assert 0.1 < right < 0.6            # terciles of the full training set, measured on the quick subset
    assert_pass(c00.check_wide_coat_share(right, quiet=True))
    assert_fail(c00.check_wide_coat_share(right + 0.05, quiet=True), "too high")
    assert_fail(c00.check_wide_coat_share(100 * right, quiet=True), "percentage")
    assert_not_done(c00.check_wide_coat_share(None, quiet=True))


# ----------------------------------------------------------------------------- notebook 01

def test_01_reparameterise():
    assert_pass(c01.check_reparameterise(V.reparameterise))
    assert_not_done(c01.check_reparameterise(stub))
    assert_fail(c01.check_reparameterise(lambda m, lv: m + torch.exp(lv) * torch.randn_like(m)), "sigma^2")
    assert_fail(c01.check_reparameterise(lambda m, lv: m + lv * torch.randn_like(m)), "logvar")
    assert_fail(c01.check_reparameterise(lambda m, lv: m + torch.exp(0.5 * lv)), "randomness")
    assert_fail(c01.check_reparameterise(lambda m, lv: (m + torch.exp(0.5 * lv) * torch.randn_like(m)).detach()),
                "gradient")


def test_01_kl_divergence():
    assert_pass(c01.check_kl_divergence(V.kl_divergence))
    assert_not_done(c01.check_kl_divergence(stub))
    assert_fail(c01.check_kl_divergence(lambda m, lv: (m ** 2 + lv.exp() - 1 - lv).sum(1)), "factor")
    assert_fail(c01.check_kl_divergence(lambda m, lv: 0.5 * (m ** 2 + lv.exp() - lv).sum(1)), "constant term")
    assert_fail(c01.check_kl_divergence(lambda m, lv: 0.5 * (m ** 2 + lv.exp() - 1 - lv)), "sum over the latent")
    assert_fail(c01.check_kl_divergence(lambda m, lv: 0.5 * (m ** 2 + lv.exp() - 1 - 2 * lv).sum(1)), "variance terms")
    assert_fail(c01.check_kl_divergence(lambda m, lv: 0.5 * (m + lv.exp() - 1 - lv).sum(1)), "mu^2")


# ----------------------------------------------------------------------------- notebook 02

def neg_elbo_ref(model, x, y):
    c = model.cond_vector(y)
    mu, logvar = model.encode(x, c)
    z = V.reparameterise(mu, logvar)
    return V.reconstruction_nll(x, model.decode_logits(z, c), model.config.likelihood) + V.kl_divergence(mu, logvar)


def neg_elbo_no_kl(model, x, y):
    c = model.cond_vector(y)
    mu, logvar = model.encode(x, c)
    return V.reconstruction_nll(x, model.decode_logits(V.reparameterise(mu, logvar), c), "bernoulli")


def neg_elbo_decoder_unconditioned(model, x, y):
    c = model.cond_vector(y)
    mu, logvar = model.encode(x, c)
    z = V.reparameterise(mu, logvar)
    return V.reconstruction_nll(x, model.decode_logits(z), "bernoulli") + V.kl_divergence(mu, logvar)


def neg_elbo_decodes_mu(model, x, y):
    c = model.cond_vector(y)
    mu, logvar = model.encode(x, c)
    torch.randn_like(mu)                               # draws eps as the reference does, then ignores it
    return V.reconstruction_nll(x, model.decode_logits(mu, c), "bernoulli") + V.kl_divergence(mu, logvar)


def test_02_negative_elbo():
    assert_pass(c02.check_negative_elbo(neg_elbo_ref))
    assert_not_done(c02.check_negative_elbo(stub))
    assert_fail(c02.check_negative_elbo(neg_elbo_no_kl), "add the KL")
    assert_fail(c02.check_negative_elbo(neg_elbo_decoder_unconditioned), "condition")
    assert_fail(c02.check_negative_elbo(neg_elbo_decodes_mu), "decoded mu")
    assert_fail(c02.check_negative_elbo(lambda m, x, y: neg_elbo_ref(m, x, y).mean()), "single number")


def bow_ref(enc, tokens):
    known = (tokens > 1).unsqueeze(-1).float()
    return enc.mlp((enc.embed(tokens) * known).sum(1) / known.sum(1).clamp(min=1))


def bow_with_unknown(enc, tokens):
    keep = (tokens > 0).unsqueeze(-1).float()
    return enc.mlp((enc.embed(tokens) * keep).sum(1) / keep.sum(1).clamp(min=1))


def test_02_bag_of_words():
    assert_pass(c02.check_bag_of_words(bow_ref))
    assert_not_done(c02.check_bag_of_words(stub))
    assert_fail(c02.check_bag_of_words(lambda enc, t: enc.mlp(enc.embed(t).mean(1))), "padding")
    assert_fail(c02.check_bag_of_words(bow_with_unknown), "unknown words")
    assert_fail(c02.check_bag_of_words(lambda enc, t: bow_ref(enc, t) * 0 + (enc.embed(t) * (t > 1).unsqueeze(-1)).sum(1)
                                       / (t > 1).sum(1, keepdim=True).clamp(min=1)), "MLP")


# ----------------------------------------------------------------------------- notebook 03

def test_03_losses():
    for kind in ("ns", "hinge"):
        assert_pass(c03.check_d_loss(lambda r, f, k=kind: Gm.d_loss(k, r, f), kind))
        assert_pass(c03.check_g_loss(lambda f, k=kind: Gm.g_loss(k, f), kind))
        assert_not_done(c03.check_d_loss(stub, kind))
        assert_not_done(c03.check_g_loss(stub, kind))
    naive = lambda r, f: -(torch.log(torch.sigmoid(r)) + torch.log(1 - torch.sigmoid(f))).mean()  # noqa: E731
    assert_fail(c03.check_d_loss(naive, "ns"), "logits")
    assert_fail(c03.check_d_loss(lambda r, f: Gm.d_loss("ns", f, r), "ns"), "swapped")
    assert_fail(c03.check_d_loss(lambda r, f: F.softplus(-r).mean(), "ns"), "fake images' term")
    assert_fail(c03.check_d_loss(lambda r, f: (F.softplus(-r) + F.softplus(f)).sum(), "ns"), "factor")
    assert_fail(c03.check_d_loss(lambda r, f: (1 - r).mean() + (1 + f).mean(), "hinge"), "relu")
    assert_fail(c03.check_d_loss(lambda r, f: F.relu(1 - r) + F.relu(1 + f), "hinge"), "average")
    assert_fail(c03.check_g_loss(lambda f: -F.softplus(f).mean(), "ns"), "minimax")
    assert_fail(c03.check_g_loss(lambda f: F.softplus(f).mean(), "ns"), "target 1")
    assert_fail(c03.check_g_loss(lambda f: F.relu(1 - f).mean(), "hinge"), "no clipping")
    assert_fail(c03.check_g_loss(lambda f: f.mean(), "hinge"), "sign")


def update_D_not_detached(G, D, opt_d, real, z):
    loss = Gm.d_loss("ns", D(real), D(G(z)))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.item()


def update_D_no_zero_grad(G, D, opt_d, real, z):
    loss = Gm.d_loss("ns", D(real), D(G(z).detach()))
    loss.backward()
    opt_d.step()
    return loss.item()


def update_G_same_loss(G, D, opt_g, z):
    """G minimises D's loss on its images (both players minimise the same loss)."""
    loss = F.softplus(D(G(z))).mean()
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    return loss.item()


def update_G_steps_D(G, D, opt_g, z):
    loss = Gm.g_loss("ns", D(G(z)))
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    with torch.no_grad():                     # a G step that also nudges D
        for p in D.parameters():
            p.add_(1e-3 * torch.sign(p))
    return loss.item()


def update_D_swapped(G, D, opt_d, real, z):
    loss = Gm.d_loss("ns", D(G(z).detach()), D(real))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.item()


def test_03_gan_steps():
    assert_pass(c03.check_gan_steps(c03.reference_update_D, c03.reference_update_G))
    assert_not_done(c03.check_gan_steps(stub, stub))
    assert_not_done(c03.check_gan_steps(c03.reference_update_D, stub))
    assert_fail(c03.check_gan_steps(update_D_not_detached, c03.reference_update_G), "detach")
    assert_fail(c03.check_gan_steps(update_D_no_zero_grad, c03.reference_update_G), "zero")
    assert_fail(c03.check_gan_steps(update_D_swapped, c03.reference_update_G), "wrong loss")
    assert_fail(c03.check_gan_steps(c03.reference_update_D, update_G_same_loss), "same loss")
    assert_fail(c03.check_gan_steps(c03.reference_update_D, update_G_steps_D), "changed D")


@pytest.mark.slow
def test_03_gan_training_fid_falls_with_the_reference_steps_and_not_with_broken_ones():
    result, run = c03.check_gan_training(c03.reference_update_D, c03.reference_update_G)
    assert_pass(result)
    assert run.fid_end <= c03.FID_DROP * run.fid_start
    # both players minimising the same loss: G runs away from the data and FID does not fall enough
    bad, bad_run = c03.check_gan_training(c03.reference_update_D, update_G_same_loss, steps=150)
    assert_fail(bad, "FID went from")
    assert_not_done(c03.check_gan_training(stub, stub)[0])


# ----------------------------------------------------------------------------- notebook 04

def test_04_projection_logit():
    def ref(D, x, y):
        h = D.phi(x)
        return D.out(h).squeeze(1) + (D.condition(y) * h).sum(1)

    assert_pass(c04.check_projection_logit(ref))
    assert_not_done(c04.check_projection_logit(stub))
    assert_fail(c04.check_projection_logit(lambda D, x, y: D.out(D.phi(x)).squeeze(1)), "projection term")
    assert_fail(c04.check_projection_logit(lambda D, x, y: (D.condition(y) * D.phi(x)).sum(1)), "unconditional")
    assert_fail(c04.check_projection_logit(lambda D, x, y: ref(D, x, y)[:, None]), "shape")
    assert_fail(c04.check_projection_logit(lambda D, x, y: D.out(D.phi(x)).squeeze(1) - (D.condition(y) * D.phi(x)).sum(1)),
                "sign")


def ema_params_only(ema, live, decay):
    with torch.no_grad():
        for e, p in zip(ema.parameters(), live.parameters()):
            e.mul_(decay).add_((1 - decay) * p)


def ema_rebinds(ema, live, decay):
    for e, p in zip(ema.parameters(), live.parameters()):
        e = decay * e + (1 - decay) * p          # noqa: F841  (rebinding a name changes nothing)


def test_04_ema_update():
    assert_pass(c04.check_ema_update(ema_update))
    assert_not_done(c04.check_ema_update(stub))
    assert_fail(c04.check_ema_update(ema_params_only), "running")
    assert_fail(c04.check_ema_update(lambda e, live, d: ema_update(e, live, 1 - d)), "swapped")
    assert_fail(c04.check_ema_update(ema_rebinds), "in place")
    assert_fail(c04.check_ema_update(lambda e, live, d: ema_update(e, live, 0.0)), "copy")


# ----------------------------------------------------------------------------- student copies

def _exercise_notebook(written_answer: bool = True) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    meta = lambda **kw: {"nbgrader": {"schema_version": 3, **kw}}  # noqa: E731
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A notebook"),
        nbformat.v4.new_code_cell("import math\nfrom pgan_lib.course.check import check_answer"),
        nbformat.v4.new_code_cell(
            "def area(r):\n    \"\"\"Area of a circle.\"\"\"\n    ### BEGIN SOLUTION\n    return math.pi * r ** 2\n"
            "    ### END SOLUTION", metadata=meta(grade_id="area", solution=True, grade=False, locked=False, points=0)),
        nbformat.v4.new_code_cell(
            "from pgan_lib.course.check import exercise_check, compare\nimport torch\n"
            "result = exercise_check('area')(lambda f: compare(torch.tensor(f(2.0)), torch.tensor(4 * math.pi)))(area)\n"
            "### BEGIN HIDDEN TESTS\nassert result.passed, result.line()\n### END HIDDEN TESTS",
            metadata=meta(grade_id="area_check", solution=False, grade=True, locked=True, points=2)),
        nbformat.v4.new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = area(1.0)\n### END SOLUTION",
                                  metadata=meta(grade_id="q1", solution=True, grade=False, locked=False, points=0)),
        nbformat.v4.new_code_cell("r = check_answer('q1', answer, math.pi, 0.01)",
                                  metadata=meta(grade_id="q1_check", solution=False, grade=True, locked=True, points=1)),
        nbformat.v4.new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                                      metadata=meta(grade_id="why", solution=True, grade=True, locked=False, points=1)),
        nbformat.v4.new_code_cell("print('later cells still run:', math.pi)"),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="solution output")]
    nb.cells[7].outputs = [nbformat.v4.new_output("stream", text="kept")]
    nb.metadata["pgan"] = {"fingerprint": {"library": "x", "notebook": "y"}}
    if not written_answer:             # a written answer is graded by hand: no full marks from autograde
        del nb.cells[6]
    return nb


def test_student_copy_replaces_solutions_and_removes_hidden_tests():
    nb = _exercise_notebook()
    s = student.student_copy(nb)
    assert s.cells[2].source == 'def area(r):\n    """Area of a circle."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    assert "HIDDEN" not in s.cells[3].source and "assert result.passed" not in s.cells[3].source
    assert s.cells[4].source == "answer = None\n# YOUR CODE HERE\nraise NotImplementedError()"
    assert "Because" not in s.cells[6].source and "YOUR ANSWER HERE" in s.cells[6].source
    assert s.cells[2].outputs == [] and s.cells[7].outputs[0]["text"] == "kept"
    assert s.cells[3].metadata["nbgrader"] == nb.cells[3].metadata["nbgrader"]     # metadata kept
    assert "pgan" not in s.metadata
    assert "BEGIN SOLUTION" in nb.cells[2].source                                  # the source is untouched
    assert [e["grade_id"] for e in student.exercises(s)] == ["area", "area_check", "q1", "q1_check", "why"]


def test_student_copy_refuses_unpaired_markers():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n")]
    with pytest.raises(student.MarkerError, match="never closed"):
        student.student_copy(nb, "bad.ipynb")
    nb.cells = [nbformat.v4.new_code_cell("x = 1\n### END HIDDEN TESTS")]
    with pytest.raises(student.MarkerError, match="bad.ipynb, cell 0"):
        student.student_copy(nb, "bad.ipynb")


def notebook_errors(nb) -> list[tuple[int, str, bool]]:
    """(cell index, exception name, is an exercise cell) for every cell whose output is an error."""
    out = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append((i, o["ename"], student.is_exercise_cell(cell)))
    return out


def _assert_only_exercise_not_implemented(nb, name):
    errors = notebook_errors(nb)
    bad = [(i, e) for i, e, exercise in errors if e != "NotImplementedError" or not exercise]
    assert not bad, f"{name}: cells raised something other than an exercise's NotImplementedError: {bad}"
    return errors


def test_student_copy_of_a_small_notebook_runs_with_only_not_implemented(tmp_path):
    from pgan_lib.course.execute import run_notebook

    src = tmp_path / "nb.ipynb"
    nbformat.write(_exercise_notebook(), src)
    (copy,) = student.write_student_copies([src], tmp_path / "student")
    nb = run_notebook(nbformat.read(copy, as_version=4), tmp_path, allow_errors=True, timeout=120)
    errors = _assert_only_exercise_not_implemented(nb, "nb.ipynb")
    assert [i for i, *_ in errors] == [4]            # the answer cell; the function stub only raises when called
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "NOT DONE: area: not implemented yet" in text and "NOT DONE: q1" in text
    assert "later cells still run" in text


def _notebooks_with_exercises() -> list[Path]:
    return [p for p in NOTEBOOKS if student.exercises(nbformat.read(p, as_version=4))]


@pytest.mark.parametrize("path", _notebooks_with_exercises(), ids=lambda p: p.stem)
def test_student_copies_of_the_course_run_with_only_not_implemented_errors(path, tmp_path):
    from pgan_lib.course.execute import run_notebook

    (copy,) = student.write_student_copies([path], tmp_path)
    # In its own folder: what it writes (runs/...) cannot meet the same notebook running under nbval at once.
    nb = run_notebook(nbformat.read(copy, as_version=4), tmp_path, allow_errors=True)
    _assert_only_exercise_not_implemented(nb, path.name)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "not implemented yet" in text
    assert "PASS:" not in text, f"{path.name}: a check passed in the student copy (does it check the library's function?)"


@pytest.mark.parametrize("path", _notebooks_with_exercises(), ids=lambda p: p.stem)
def test_course_notebooks_follow_the_exercise_form(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    ids = [student.nbgrader_meta(c).get("grade_id") for c in cells if student.nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade_id"
    solutions = 0
    for i, c in enumerate(cells):
        meta = student.nbgrader_meta(c)
        if c.cell_type == "code" and meta.get("solution"):
            solutions += 1
            assert "### BEGIN SOLUTION" in c.source, f"{path.name} cell {i}: solution cell without markers"
            nxt = student.nbgrader_meta(cells[i + 1])
            assert nxt.get("grade") and nxt.get("locked"), f"{path.name} cell {i}: no locked check cell after it"
            assert "### BEGIN HIDDEN TESTS" in cells[i + 1].source, f"{path.name} cell {i + 1}: no graded assertion"
        elif "### BEGIN SOLUTION" in c.source:
            pytest.fail(f"{path.name} cell {i}: solution markers without nbgrader metadata")
    assert solutions >= 2, f"{path.name}: fewer than two implement-it exercises"


def test_pgan_course_student_command(tmp_path, capsys):
    from pgan_lib.cli import main

    src = tmp_path / "nb.ipynb"
    nbformat.write(_exercise_notebook(), src)
    assert main(["course", "student", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "(3 exercises)" in capsys.readouterr().out
    assert "NotImplementedError" in (tmp_path / "out" / "nb.ipynb").read_text()
    assert main(["course", "student", str(tmp_path / "missing.ipynb")]) == 2
    assert "missing.ipynb" in capsys.readouterr().err


def test_every_pgan_command_starts_without_the_notebook_and_torchvision_imports():
    """Every ``pgan`` command builds the whole parser, ``course`` included: nbformat (its schema validation) and
    torchvision (which pulls in torch._dynamo) take seconds to import, so only the commands that use them do."""
    import subprocess
    import sys

    code = ("import sys; from pgan_lib.cli import build_parser; build_parser().parse_args(['course', 'check-fresh']); "
            "print(sorted(m for m in ('nbformat', 'nbclient', 'torchvision') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- freshness

def _library_copy(tmp_path) -> Path:
    root = tmp_path / "pgan_lib"
    shutil.copytree(freshness.LIBRARY_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = freshness.LIBRARY_ROOT.parent / "checkpoints" / "manifest.json"
    if manifest.is_file():
        (tmp_path / "checkpoints").mkdir()
        shutil.copy(manifest, tmp_path / "checkpoints" / "manifest.json")
    return root


def test_library_fingerprint_ignores_comments_docstrings_and_the_tooling(tmp_path):
    root = _library_copy(tmp_path)
    base = freshness.library_fingerprint(root)
    assert base == freshness.library_fingerprint(freshness.LIBRARY_ROOT)
    vae = root / "models" / "vae.py"
    text = vae.read_text()
    vae.write_text(text.replace('"""Images (N, C, H, W) in [0,1] -> (mu, logvar), each (N, latent_dim)."""',
                                '"""Encode."""  # a comment') + "\n# trailing comment\n")
    assert freshness.library_fingerprint(root) == base
    (root / "course" / "student.py").write_text((root / "course" / "student.py").read_text() + "\nX = 1\n")
    assert freshness.library_fingerprint(root) == base
    vae.write_text(text.replace("logvar.clamp(-12, 8)", "logvar.clamp(-10, 8)"))
    changed = freshness.library_fingerprint(root)
    assert changed != base
    manifest = tmp_path / "checkpoints" / "manifest.json"           # a model shipped or retrained
    if manifest.is_file():
        manifest.write_text(manifest.read_text().replace("}", ' }', 1))
        assert freshness.library_fingerprint(root) != changed


def test_freshness_passes_on_a_fresh_notebook_and_fails_on_a_stale_one(tmp_path):
    root = _library_copy(tmp_path)
    nb = _exercise_notebook()
    nb.metadata.pop("pgan")
    path = tmp_path / "07_demo.ipynb"
    nbformat.write(nb, path)
    assert "no execution fingerprint" in freshness.stale_reason(path, root)
    freshness.record(nb, {"seconds": 1.0}, root)
    nbformat.write(nb, path)
    assert freshness.stale_reason(path, root) is None
    assert set(json.loads(path.read_text())["metadata"]["pgan"]["fingerprint"]) == {"library", "notebook"}
    # the library changes: stale, naming the notebook and the fix
    m = root / "models" / "gan.py"
    m.write_text(m.read_text().replace("return -fake.mean()", "return -2 * fake.mean()"))
    reason = freshness.stale_reason(path, root)
    assert reason and "07_demo.ipynb" in reason and "make notebooks" in reason and "library changed" in reason
    # the notebook's code changes (markdown does not count)
    freshness.record(nb, None, root)
    nb.cells[0].source = "# A different title"
    nbformat.write(nb, path)
    assert freshness.stale_reason(path, root) is None
    nb.cells[-1].source = "print('changed')"
    nbformat.write(nb, path)
    assert "code cells changed" in freshness.stale_reason(path, root)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_outputs_match_the_library(path):
    reason = freshness.stale_reason(path)
    assert reason is None, reason


# ----------------------------------------------------------------------------- nbgrader

def _nbgrader_available() -> bool:
    return shutil.which("nbgrader") is not None or (Path(__import__("sys").executable).parent / "nbgrader").exists()


@pytest.mark.slow
@pytest.mark.skipif(not _nbgrader_available(), reason="nbgrader is not installed")
@pytest.mark.parametrize("path", _notebooks_with_exercises()[:1] + [None], ids=lambda p: p.stem if p else "small")
def test_nbgrader_autograde_gives_full_marks_to_the_solutions(path, tmp_path):
    """nbgrader's own pipeline on the instructor copy: generate_assignment, then autograde the solutions."""
    import os
    import subprocess
    import sys

    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    course = tmp_path / "course"
    (course / "source" / "ps").mkdir(parents=True)
    if path is None:
        path = tmp_path / "small.ipynb"
        nbformat.write(_exercise_notebook(written_answer=False), path)
    shutil.copy(path, course / "source" / "ps" / path.name)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'pgan'\n"
        "c.ExecutePreprocessor.timeout = 300\nc.Execute.timeout = 300\n")
    env = {**os.environ, "PGAN_MODE": "quick", "PYTHONPATH": str(ROOT),      # nbgrader runs alembic from PATH
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    run = lambda *a: subprocess.run([nbgrader, *a], cwd=course, env=env, capture_output=True, text=True)  # noqa: E731
    r = run("generate_assignment", "ps", "--force", "--create")
    assert r.returncode == 0, r.stdout + r.stderr
    sub = course / "submitted" / "student1" / "ps"
    sub.mkdir(parents=True)
    shutil.copy(path, sub / path.name)                   # the student hands in the solutions
    r = run("autograde", "ps", "--force", "--create")
    assert r.returncode == 0, r.stdout + r.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub_nb = gb.find_submission_notebook(path.stem, "ps", "student1")
        assert sub_nb.max_score > 0
        assert sub_nb.score == sub_nb.max_score, f"{path.name}: {sub_nb.score} of {sub_nb.max_score} points"
